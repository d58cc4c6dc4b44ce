import { describe, expect, it } from 'vitest';
import { CAPTCHA_ALPHABET, captchaText } from '../../src/captcha/index.js';
import { STROKE_FONT } from '../../src/captcha/stroke-font.js';
import { SmsOtpConfigError } from '../../src/errors.js';

const LOOK_ALIKES = ['0', 'O', '1', 'I', 'L', '2', 'Z', '5', 'S', '8', 'B', 'G'];

describe('captchaText', () => {
  it('has no look-alike characters in its alphabet, and a glyph for every character', () => {
    for (const char of LOOK_ALIKES) expect(CAPTCHA_ALPHABET).not.toContain(char);
    expect(new Set(CAPTCHA_ALPHABET).size).toBe(CAPTCHA_ALPHABET.length);
    expect(CAPTCHA_ALPHABET).toMatch(/^[A-Z0-9]+$/);
    expect(Object.keys(STROKE_FONT).sort()).toEqual([...CAPTCHA_ALPHABET].sort());
  });

  it('makes 5 characters by default, from the alphabet only', () => {
    for (let i = 0; i < 200; i++) {
      const text = captchaText();
      expect(text).toHaveLength(5);
      for (const char of text) expect(CAPTCHA_ALPHABET).toContain(char);
    }
  });

  it('makes the requested length', () => {
    expect(captchaText(1)).toHaveLength(1);
    expect(captchaText(4)).toHaveLength(4);
    expect(captchaText(12)).toHaveLength(12);
  });

  it('refuses lengths outside 1–12', () => {
    for (const length of [0, -1, 13, 2.5, Number.NaN]) {
      expect(() => captchaText(length)).toThrow(SmsOtpConfigError);
    }
  });

  it('is random: no repeats in 500 texts of 8, and every character shows up', () => {
    // 24^8 ≈ 1.1e11 texts: a repeat among 500 has a chance of about 1 in a million.
    const texts = Array.from({ length: 500 }, () => captchaText(8));
    expect(new Set(texts).size).toBe(500);
    const seen = new Set(texts.join(''));
    expect(seen.size).toBe(CAPTCHA_ALPHABET.length);
  });
});
