import { createHmac, createSecretKey } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hmacSha256 } from '../src/hmac.js';

/** Any UTF-16 code unit, lone surrogates included: what a JSON body can put in a string. */
const anyText = (maxLength: number) =>
  fc.string({
    unit: fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)),
    maxLength,
  });

const reference = (key: Uint8Array, text: string) =>
  createHmac('sha256', createSecretKey(key)).update(text).digest('base64url');

describe('hmacSha256 (two crypto.hash calls over prepared key blocks)', () => {
  it('gives createHmac’s bytes for any key length and any text', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 130, size: 'max' }),
        fc.oneof(anyText(40), anyText(2_000), fc.string({ unit: 'grapheme', maxLength: 300, size: 'max' })),
        (key, text) => {
          expect(hmacSha256(createSecretKey(key), text)).toBe(reference(key, text));
        },
      ),
      { numRuns: 3_000 },
    );
  });

  it('one key object answers many texts in turn, short after long', () => {
    const raw = new Uint8Array(32).fill(7);
    const key = createSecretKey(raw);
    const texts = [
      'x'.repeat(1_300),
      '',
      'login\u0000+8613800138000\u0000123456\u0000',
      'é'.repeat(500),
      'a',
    ];
    for (const text of [...texts, ...texts.reverse()])
      expect(hmacSha256(key, text)).toBe(reference(raw, text));
  });

  it('texts that might not fit the prepared buffer (over 4 096 / 3 units) take createHmac, same bytes', () => {
    const raw = new Uint8Array(32).fill(9);
    const key = createSecretKey(raw);
    for (const text of [
      'a'.repeat(1_365),
      'a'.repeat(1_366),
      '€'.repeat(1_366),
      '😀'.repeat(700),
      'b'.repeat(100_000),
    ]) {
      expect(hmacSha256(key, text)).toBe(reference(raw, text));
    }
  });

  it('known answer: RFC 4231 test case 2', () => {
    const key = createSecretKey(Buffer.from('Jefe'));
    expect(Buffer.from(hmacSha256(key, 'what do ya want for nothing?'), 'base64url').toString('hex')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });
});
