import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  captchaPngDataUri,
  captchaText,
  crc32,
  renderCaptchaPng,
  tableCrc32,
} from '../../src/captcha/image.js';
import { SmsOtpConfigError } from '../../src/errors.js';

/** Reads the PNG the renderer writes (8-bit RGB, filter 0), checking every chunk's CRC. */
function decode(png: Buffer): { width: number; height: number; rgb: Buffer; chunks: string[] } {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  const chunks: string[] = [];
  let at = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (at < png.length) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    expect(png.readUInt32BE(at + 8 + length), `${type} CRC`).toBe(
      crc32(png.subarray(at + 4, at + 8 + length)),
    );
    chunks.push(type);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect([...data.subarray(8)]).toEqual([8, 2, 0, 0, 0]);
    }
    if (type === 'IDAT') idat.push(data);
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  expect(raw.length).toBe((width * 3 + 1) * height);
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (width * 3 + 1)], 'filter byte').toBe(0);
    raw.copy(rgb, y * width * 3, y * (width * 3 + 1) + 1, (y + 1) * (width * 3 + 1));
  }
  return { width, height, rgb, chunks };
}

describe('renderCaptchaPng', () => {
  it('is a valid PNG (signature, IHDR, IDAT, IEND, CRCs) of the size it is given', () => {
    const small = decode(renderCaptchaPng('ACDEF'));
    expect([small.width, small.height, small.chunks]).toEqual([150, 50, ['IHDR', 'IDAT', 'IEND']]);
    const large = decode(renderCaptchaPng('ACDEF', { width: 300, height: 100 }));
    expect([large.width, large.height]).toEqual([300, 100]);
  });

  it('computes CRC-32 as PNG does', () => {
    for (const check of [crc32, tableCrc32]) {
      expect(check(Buffer.from('123456789'))).toBe(0xcbf43926);
      expect(check(Buffer.alloc(0))).toBe(0);
    }
  });

  it('draws the characters across the image, in ink much darker than the background', () => {
    for (let round = 0; round < 20; round++) {
      const text = captchaText();
      const { width, height, rgb } = decode(renderCaptchaPng(text, { noise: 0 }));
      // Without noise the dark pixels are the glyphs' strokes, and some speckle, which stands alone.
      const isDark = (x: number, y: number) => {
        const at = (y * width + x) * 3;
        return rgb[at]! + rgb[at + 1]! + rgb[at + 2]! < 450;
      };
      const columns = new Set<number>();
      let dark = 0;
      for (let y = 0; y < height - 1; y++) {
        for (let x = 0; x < width - 1; x++) {
          if (isDark(x, y) && isDark(x + 1, y) && isDark(x, y + 1)) {
            dark += 1;
            columns.add(x);
          }
        }
      }
      // (In 300 renders: 337 such pixels at the least, a span of 110 of the 150 columns at the least.)
      expect(dark, text).toBeGreaterThan(150);
      // Five characters span most of the width, wherever they start.
      expect(Math.max(...columns) - Math.min(...columns), text).toBeGreaterThan(width * 0.55);
    }
  });

  it('keeps the characters inside the image (none cut off at an edge)', () => {
    // A run of 3 dark pixels along an edge is a stroke running into it (speckle is single pixels). Measured
    // without the glyphs kept inside: 159 renders in 1000; with: 17 in 5000.
    let touching = 0;
    for (let round = 0; round < 60; round++) {
      const { width, height, rgb } = decode(renderCaptchaPng(captchaText(), { noise: 0 }));
      const dark = ([x, y]: [number, number]) => {
        const at = (y * width + x) * 3;
        return rgb[at]! + rgb[at + 1]! + rgb[at + 2]! < 450;
      };
      const edges = [
        Array.from({ length: width }, (_, x): [number, number] => [x, 0]),
        Array.from({ length: width }, (_, x): [number, number] => [x, height - 1]),
        Array.from({ length: height }, (_, y): [number, number] => [0, y]),
        Array.from({ length: height }, (_, y): [number, number] => [width - 1, y]),
      ];
      const runs = edges.some((edge) => {
        let run = 0;
        for (const pixel of edge) {
          run = dark(pixel) ? run + 1 : 0;
          if (run >= 3) return true;
        }
        return false;
      });
      if (runs) touching += 1;
    }
    expect(touching).toBeLessThanOrEqual(2);
  });

  it('is different on every render of the same text, and never holds the text', () => {
    const a = renderCaptchaPng('XK7QW');
    const b = renderCaptchaPng('XK7QW');
    expect(a.equals(b)).toBe(false);
    expect(a.toString('latin1')).not.toContain('XK7QW');
    expect(captchaPngDataUri(a)).toBe(`data:image/png;base64,${a.toString('base64')}`);
  });

  it('draws lower case as upper case, and refuses what it cannot draw', () => {
    expect(decode(renderCaptchaPng('acdef')).width).toBe(150);
    for (const [text, options] of [
      ['AB0', {}],
      ['', {}],
      ['A'.repeat(13), {}],
      ['ACDEF', { width: 10 }],
      ['ACDEF', { height: 1000 }],
      ['ACDEF', { noise: 2.5 }],
    ] as const) {
      expect(() => renderCaptchaPng(text, options)).toThrow(SmsOtpConfigError);
    }
  });
});
