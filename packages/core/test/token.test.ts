import { createSecretKey } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { readToken, signToken } from '../src/token.js';

const raw = new Uint8Array(32).fill(9);
const key = createSecretKey(raw);
const now = Date.UTC(2026, 5, 1, 12, 0, 0);
const claims = { phone: '+8613800138000', purpose: 'login', jti: 'jti-123' };

const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return 'OK';
  } catch (error) {
    return (error as { code?: string }).code;
  }
};

describe('verification tokens (compact HS256 JWS)', () => {
  it('are standard JWTs: jose verifies ours, and ours reads what jose signs the same way', async () => {
    const token = signToken(key, claims, now, 600);
    const { payload, protectedHeader } = await jwtVerify(token, raw, {
      algorithms: ['HS256'],
      typ: 'sms-otp+jwt',
      currentDate: new Date(now),
    });
    expect(protectedHeader).toEqual({ alg: 'HS256', typ: 'sms-otp+jwt' });
    expect(payload).toEqual({
      sub: claims.phone,
      pur: 'login',
      jti: 'jti-123',
      iat: now / 1000,
      exp: now / 1000 + 600,
    });

    const fromJose = await new SignJWT({
      sub: claims.phone,
      pur: 'login',
      jti: 'j2',
      iat: now / 1000,
      exp: now / 1000 + 60,
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'sms-otp+jwt' })
      .sign(raw);
    expect(readToken(key, fromJose, now)).toMatchObject({ phone: claims.phone, purpose: 'login', jti: 'j2' });
  });

  it('accept only the canonical spelling of a signature', () => {
    // The last of 43 base64url characters carries 4 bits; the other 2 are ignored by decoders.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let i = 0; i < 64; i++) {
      const token = signToken(key, { ...claims, jti: `jti-${i}` }, now, 600);
      const signature = token.split('.')[2]!;
      const twin = `${signature.slice(0, -1)}${alphabet[alphabet.indexOf(signature.at(-1)!) + 1]}`;
      expect(Buffer.from(twin, 'base64url')).toEqual(Buffer.from(signature, 'base64url'));
      expect(codeOf(() => readToken(key, `${token.slice(0, -signature.length)}${twin}`, now))).toBe(
        'TOKEN_INVALID',
      );
    }
  });

  it('expire at exp', () => {
    const token = signToken(key, claims, now, 600);
    expect(codeOf(() => readToken(key, token, now + 599_000))).toBe('OK');
    expect(codeOf(() => readToken(key, token, now + 600_000))).toBe('TOKEN_EXPIRED');
  });

  it('refuse other keys, other headers, alg none, tampering and junk', async () => {
    const token = signToken(key, claims, now, 600);
    const [h, p, s] = token.split('.') as [string, string, string];
    const forged = (payload: object) =>
      `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    const none = `${Buffer.from('{"alg":"none","typ":"sms-otp+jwt"}').toString('base64url')}.${p}.`;
    const otherTyp = await new SignJWT({ sub: claims.phone, pur: 'login', jti: 'x', iat: 1, exp: 9e9 })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .sign(raw);
    for (const bad of [
      signToken(createSecretKey(new Uint8Array(32).fill(1)), claims, now, 600),
      forged({ sub: '+8613900000000', pur: 'login', jti: 'jti-123', iat: now / 1000, exp: now / 1000 + 600 }),
      none,
      otherTyp,
      `${h}.${p}`,
      `${h}.${p}.${s}.x`,
      `${h}.!!!.${s}`,
      '',
      'a.b.c',
    ]) {
      expect(codeOf(() => readToken(key, bad, now))).toBe('TOKEN_INVALID');
    }
  });
});
