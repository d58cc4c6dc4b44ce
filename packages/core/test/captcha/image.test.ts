import { describe, expect, it } from 'vitest';
import { CAPTCHA_ALPHABET, captchaDataUri, captchaText, renderCaptchaSvg } from '../../src/captcha/index.js';
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

describe('renderCaptchaSvg', () => {
  it('is an SVG document of paths: no <text>, no font, no text nodes', () => {
    const svg = renderCaptchaSvg('ACDEF');
    expect(svg.startsWith('<svg ')).toBe(true);
    expect(svg.endsWith('</svg>')).toBe(true);
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    expect(svg).not.toMatch(/<text|<tspan|<title|<desc|<foreignObject|font|<script|<use/i);
    expect(svg.replace(/<[^>]*>/g, '').trim()).toBe('');
    expect((svg.match(/<path /g) ?? []).length).toBeGreaterThan(5);
  });

  it('is well-formed: every tag opened is closed, attributes are quoted', () => {
    const svg = renderCaptchaSvg(captchaText(), { noise: 5 });
    const stack: string[] = [];
    for (const [, closing, name, , selfClosing] of svg.matchAll(
      /<(\/?)([a-zA-Z]+)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>/g,
    )) {
      if (selfClosing) continue;
      if (closing) expect(stack.pop()).toBe(name);
      else stack.push(name!);
    }
    expect(stack).toEqual([]);
    // Nothing between tags but other tags.
    expect(svg.replace(/<(\/?)([a-zA-Z]+)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>/g, '')).toBe('');
  });

  it('never puts the answer in the markup', () => {
    for (let i = 0; i < 50; i++) {
      const text = captchaText(6);
      const svg = renderCaptchaSvg(text);
      expect(svg.toUpperCase()).not.toContain(text);
      expect(captchaDataUri(svg)).not.toContain(text);
    }
  });

  it('draws one or more strokes per character', () => {
    const one = renderCaptchaSvg('T', { noise: 0 });
    expect((one.match(/<path /g) ?? []).length).toBe(2);
    const five = renderCaptchaSvg('HHHHH', { noise: 0 });
    expect((five.match(/<path /g) ?? []).length).toBe(15);
  });

  it('adds noise curves and dots', () => {
    const quiet = (renderCaptchaSvg('ACDEF', { noise: 0 }).match(/<path /g) ?? []).length;
    const noisy = (renderCaptchaSvg('ACDEF', { noise: 4 }).match(/<path /g) ?? []).length;
    expect(noisy).toBe(quiet + 4 + 40);
  });

  it('keeps every point of a glyph inside the image', () => {
    for (let i = 0; i < 30; i++) {
      const svg = renderCaptchaSvg(captchaText(), { noise: 0 });
      for (const [, d] of svg.matchAll(/<path d="([^"]+)"/g)) {
        const numbers = (d ?? '').match(/-?\d+(\.\d+)?/g)!.map(Number);
        for (let k = 0; k + 1 < numbers.length; k += 2) {
          expect(numbers[k]).toBeGreaterThanOrEqual(0);
          expect(numbers[k]).toBeLessThanOrEqual(150);
          expect(numbers[k + 1]).toBeGreaterThanOrEqual(0);
          expect(numbers[k + 1]).toBeLessThanOrEqual(50);
        }
      }
    }
  });

  it('is different on every render of the same text', () => {
    const renders = new Set(Array.from({ length: 20 }, () => renderCaptchaSvg('HJKMN')));
    expect(renders.size).toBe(20);
  });

  it('uses the size it is given (default 150 × 50)', () => {
    expect(renderCaptchaSvg('ACDEF')).toMatch(/^<svg [^>]*width="150" height="50" viewBox="0 0 150 50"/);
    expect(renderCaptchaSvg('ACDEF', { width: 300, height: 90 })).toMatch(
      /^<svg [^>]*width="300" height="90" viewBox="0 0 300 90"/,
    );
  });

  it('draws lower case as upper case', () => {
    expect(() => renderCaptchaSvg('acdef')).not.toThrow();
  });

  it('refuses characters without a glyph and bad options', () => {
    for (const text of ['', 'HELLO', 'AB0', 'A B', 'x'.repeat(13)]) {
      expect(() => renderCaptchaSvg(text), text).toThrow(SmsOtpConfigError);
    }
    expect(() => renderCaptchaSvg('ACDEF', { width: 10 })).toThrow('"width"');
    expect(() => renderCaptchaSvg('ACDEF', { height: Number.POSITIVE_INFINITY })).toThrow('"height"');
    expect(() => renderCaptchaSvg('ACDEF', { noise: 1.5 })).toThrow('"noise"');
    expect(() => renderCaptchaSvg('ACDEF', { noise: 11 })).toThrow('"noise"');
  });
});

describe('captchaDataUri', () => {
  it('round-trips the SVG through base64', () => {
    const svg = renderCaptchaSvg(captchaText());
    const uri = captchaDataUri(svg);
    expect(uri.startsWith('data:image/svg+xml;base64,')).toBe(true);
    const payload = uri.slice('data:image/svg+xml;base64,'.length);
    expect(payload).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(payload, 'base64').toString('utf8')).toBe(svg);
  });

  it('keeps non-ASCII text intact', () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg"><!-- 验证码 --></svg>';
    expect(Buffer.from(captchaDataUri(svg).split(',')[1]!, 'base64').toString('utf8')).toBe(svg);
  });
});
