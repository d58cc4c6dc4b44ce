import { randomFillSync, randomInt } from 'node:crypto';
import * as zlib from 'node:zlib';
import { SmsOtpConfigError } from '../errors.js';
import { GLYPH_HEIGHT, GLYPH_WIDTH, STROKE_FONT, type Stroke } from './stroke-font.js';

/**
 * The characters a captcha text is made of: upper-case letters and digits without the look-alikes
 * 0/O, 1/I/L, 2/Z, 5/S, 8/B and 6/G (G is left out). Answers are best compared case-insensitively
 * (`answer.toUpperCase()`).
 *
 * @example
 * CAPTCHA_ALPHABET.includes('A'); // true
 * CAPTCHA_ALPHABET.includes('O'); // false
 */
export const CAPTCHA_ALPHABET = 'ACDEFHJKMNPQRTUVWXY34679';

/** Longest text {@link captchaText} makes and {@link renderCaptchaSvg} draws. */
const MAX_LENGTH = 12;

/**
 * Random captcha text of `length` characters (1–12, default 5) from {@link CAPTCHA_ALPHABET}, each chosen
 * with `crypto.randomInt`. 24 characters, so 5 of them give 24⁵ ≈ 8 million answers.
 *
 * @example
 * const text = captchaText(); // e.g. 'K7QWE'
 * await store.set(`captcha:${key}`, text, { ttl: 120 });
 */
export function captchaText(length = 5): string {
  if (!Number.isInteger(length) || length < 1 || length > MAX_LENGTH) {
    throw new SmsOtpConfigError('length', `must be an integer from 1 to ${MAX_LENGTH}`);
  }
  let text = '';
  for (let i = 0; i < length; i++) text += CAPTCHA_ALPHABET[randomInt(CAPTCHA_ALPHABET.length)];
  return text;
}

/**
 * Options of {@link renderCaptchaPng}.
 *
 * @example
 * const options: CaptchaImageOptions = { width: 200, height: 60, noise: 4 };
 */
export interface CaptchaImageOptions {
  /** Image width in pixels, 60–1000; default 150. */
  width?: number;
  /** Image height in pixels, 24–400; default 50. */
  height?: number;
  /** Noise, 0–10; default 3: curves and lines across the image, dots and speckle. */
  noise?: number;
}

type Point = [number, number];
type Rgb = [number, number, number];

/**
 * Draws `text` as a PNG for a person to read back: the characters of the stroke font at unequal steps from
 * a random start, each with a random rotation, scale and skew and a wobble on every vertex, in one ink with
 * lines through them and stray strokes as wide and in the same ink, over curves, dots and speckle; then the
 * whole image is bent along two sine waves. A vector image would keep each stroke as a path
 * a script can match against the font without reading anything (the SVG this replaced was solved 2000 times
 * in 2000 that way); a raster image keeps only pixels, so a solver has to see the characters as a person does. It still stops scripts, not a
 * determined attacker with a trained model: put Turnstile, hCaptcha or reCAPTCHA in front of high-value
 * routes. Lower-case letters are drawn as upper case; a character outside {@link CAPTCHA_ALPHABET} throws
 * `SmsOtpConfigError` (option `text`).
 *
 * @example
 * const png = renderCaptchaPng(captchaText());
 * res.json({ captchaKey: key, image: captchaPngDataUri(png) });
 */
export function renderCaptchaPng(text: string, options: CaptchaImageOptions = {}): Buffer {
  const width = Math.round(numberOption('width', options.width, 150, 60, 1000));
  const height = Math.round(numberOption('height', options.height, 50, 24, 400));
  const noise = numberOption('noise', options.noise, 3, 0, 10);
  if (!Number.isInteger(noise)) throw new SmsOtpConfigError('noise', 'must be an integer from 0 to 10');
  const chars = checkedCaptchaText(text);

  const canvas = new Canvas(width, height, hsl(rand(0, 360), rand(20, 40), rand(88, 96)));
  const margin = width * 0.05;
  // Characters advance by unequal steps from a random start: no fixed slot holds a given character.
  const steps = chars.map(() => rand(0.9, 1.1));
  const total = steps.reduce((sum, step) => sum + step, 0);
  const slot = ((width - 2 * margin) * rand(0.9, 0.98)) / total;
  let left = margin + rand(0, width - 2 * margin - slot * total);
  const unit = Math.min((height * 0.6) / GLYPH_HEIGHT, (slot * 0.85) / GLYPH_WIDTH);
  const strokeBase = Math.max(1.4, unit * 0.45);
  // One ink for every character and for the lines across them, varied a little per stroke: colour sets no
  // character apart from its neighbours or from the lines.
  const hue = rand(0, 360);
  const ink = () => hsl(hue + rand(-25, 25), rand(50, 80), rand(14, 30));

  for (let i = 0; i < noise * 40; i++)
    canvas.dot(rand(0, width), rand(0, height), rand(0.6, 1.4), midColor());
  for (let i = 0; i < noise; i++) canvas.polyline(curve(width, height), rand(0.8, 1.6), midColor());

  chars.forEach((char, index) => {
    const scale = unit * rand(0.88, 1.15);
    const angle = (rand(-24, 24) * Math.PI) / 180;
    const skew = rand(-0.28, 0.28);
    // Neighbours may touch or overlap: a character is not a box of its own.
    const cx = left + (slot * steps[index]!) / 2;
    left += slot * steps[index]!;
    const cy = height / 2 + rand(-0.12, 0.12) * height;
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    const place = ([gx, gy]: readonly [number, number]): Point => {
      const x = gx - GLYPH_WIDTH / 2 + rand(-0.14, 0.14);
      const y = gy - GLYPH_HEIGHT / 2 + rand(-0.14, 0.14);
      const sx = (x + skew * y) * scale;
      const sy = y * scale;
      return [cx + sx * cos - sy * sin, cy + sx * sin + sy * cos];
    };
    const strokeWidth = strokeBase * rand(0.85, 1.15);
    const lines = (STROKE_FONT[char] as readonly Stroke[]).map((stroke) =>
      wobble(stroke.map(place), unit * 0.16),
    );
    // Inside by more than the stroke, its anti-aliasing and the warp below can move it.
    keepInside(lines, width, height, strokeWidth / 2 + WARP_MAX + 1);
    for (const points of lines) canvas.polyline(points, strokeWidth, ink());
  });

  // Lines through the text as wide as the strokes, and short stray strokes, in the same ink.
  for (let i = 0; i < Math.min(1, noise); i++) {
    canvas.polyline(curve(width, height, 0.3), strokeBase * rand(0.6, 0.85), ink());
  }
  for (let i = 0; i < Math.ceil(noise / 2); i++) {
    const x = rand(margin, width - margin);
    const y = rand(height * 0.25, height * 0.75);
    const length = unit * rand(1.2, 2.2);
    const direction = rand(0, Math.PI);
    const end: Point = [x + Math.cos(direction) * length, y + Math.sin(direction) * length];
    canvas.polyline(wobble([[x, y], end], unit * 0.2), strokeBase * rand(0.8, 1.1), ink());
  }
  canvas.warp(rand(0.8, WARP_MAX), rand(20, 40), rand(0.6, WARP_MAX - 0.2), rand(40, 90));
  canvas.speckle(0.04);
  return canvas.png();
}

/**
 * Wraps a PNG in a `data:` URI (base64) for an `<img src>` or a JSON field.
 *
 * @example
 * captchaPngDataUri(renderCaptchaPng(captchaText())); // 'data:image/png;base64,iVBORw0KGgo…'
 */
export function captchaPngDataUri(png: Buffer): string {
  return `data:image/png;base64,${png.toString('base64')}`;
}

/** An RGB pixel buffer with anti-aliased thick lines. */
class Canvas {
  readonly #pixels: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb,
  ) {
    this.#pixels = new Uint8Array(width * height * 3);
    this.#pixels.set(background);
    for (let filled = 3; filled < this.#pixels.length; filled *= 2)
      this.#pixels.copyWithin(filled, 0, filled);
  }

  polyline(points: readonly Point[], strokeWidth: number, color: Rgb): void {
    for (let i = 1; i < points.length; i++) this.#segment(points[i - 1]!, points[i]!, strokeWidth / 2, color);
  }

  dot(x: number, y: number, radius: number, color: Rgb): void {
    this.#segment([x, y], [x, y], radius, color);
  }

  /** Sets a share of the pixels to random colours, light and mid-dark. */
  speckle(share: number): void {
    const count = Math.round(this.width * this.height * share);
    for (let i = 0; i < count; i++) {
      const at = Math.floor(rand(0, this.width * this.height)) * 3;
      const [r, g, b] = hsl(rand(0, 360), rand(0, 70), rand(0, 1) < 0.5 ? rand(70, 95) : rand(30, 60));
      this.#pixels[at] = r;
      this.#pixels[at + 1] = g;
      this.#pixels[at + 2] = b;
    }
  }

  /**
   * Bends the whole image: each row shifts sideways along one sine wave and each column up or down along
   * another (bilinear resampling), so no character is a straight copy of its font glyph.
   */
  warp(amplitudeX: number, periodY: number, amplitudeY: number, periodX: number): void {
    const { width, height } = this;
    const source = this.#pixels.slice();
    const phaseX = rand(0, 2 * Math.PI);
    const phaseY = rand(0, 2 * Math.PI);
    const dys = Array.from(
      { length: width },
      (_, x) => amplitudeY * Math.sin((2 * Math.PI * x) / periodX + phaseY),
    );
    for (let y = 0; y < height; y++) {
      const dx = amplitudeX * Math.sin((2 * Math.PI * y) / periodY + phaseX);
      for (let x = 0; x < width; x++) {
        const sx = Math.min(width - 1, Math.max(0, x + dx));
        const sy = Math.min(height - 1, Math.max(0, y + dys[x]!));
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const x1 = Math.min(width - 1, x0 + 1);
        const y1 = Math.min(height - 1, y0 + 1);
        const fx = sx - x0;
        const fy = sy - y0;
        const at = (y * width + x) * 3;
        for (let c = 0; c < 3; c++) {
          const top = source[(y0 * width + x0) * 3 + c]! * (1 - fx) + source[(y0 * width + x1) * 3 + c]! * fx;
          const bottom =
            source[(y1 * width + x0) * 3 + c]! * (1 - fx) + source[(y1 * width + x1) * 3 + c]! * fx;
          this.#pixels[at + c] = Math.round(top * (1 - fy) + bottom * fy);
        }
      }
    }
  }

  /** A segment with round caps, `half` wide on each side, blended by how much of each pixel it covers. */
  #segment([ax, ay]: Point, [bx, by]: Point, half: number, [r, g, b]: Rgb): void {
    const reach = half + 1;
    const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - reach));
    const x1 = Math.min(this.width - 1, Math.ceil(Math.max(ax, bx) + reach));
    const y0 = Math.max(0, Math.floor(Math.min(ay, by) - reach));
    const y1 = Math.min(this.height - 1, Math.ceil(Math.max(ay, by) + reach));
    const dx = bx - ax;
    const dy = by - ay;
    const length2 = dx * dx + dy * dy;
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const px = x + 0.5 - ax;
        const py = y + 0.5 - ay;
        const t = length2 === 0 ? 0 : Math.max(0, Math.min(1, (px * dx + py * dy) / length2));
        const ex = px - t * dx;
        const ey = py - t * dy;
        const distance = Math.sqrt(ex * ex + ey * ey);
        const cover = Math.min(1, half + 0.5 - distance);
        if (cover <= 0) continue;
        const at = (y * this.width + x) * 3;
        const p = this.#pixels;
        p[at] = Math.round(p[at]! + (r - p[at]!) * cover);
        p[at + 1] = Math.round(p[at + 1]! + (g - p[at + 1]!) * cover);
        p[at + 2] = Math.round(p[at + 2]! + (b - p[at + 2]!) * cover);
      }
    }
  }

  /** The image as a PNG file: 8-bit RGB, no filter, deflated. */
  png(): Buffer {
    const row = this.width * 3 + 1;
    const raw = Buffer.alloc(row * this.height);
    for (let y = 0; y < this.height; y++) {
      raw.set(this.#pixels.subarray(y * this.width * 3, (y + 1) * this.width * 3), y * row + 1);
    }
    const header = Buffer.alloc(13);
    header.writeUInt32BE(this.width, 0);
    header.writeUInt32BE(this.height, 4);
    header.set([8, 2, 0, 0, 0], 8);
    return Buffer.concat([
      PNG_SIGNATURE,
      chunk('IHDR', header),
      chunk('IDAT', zlib.deflateSync(raw, { level: 1 })),
      chunk('IEND', Buffer.alloc(0)),
    ]);
  }
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 as PNG chunks carry it (ISO 3309), by table: for Node versions whose zlib has no `crc32`. */
export function tableCrc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** CRC-32 as PNG chunks carry it: zlib's own where Node has it (20.15 and later), else by table. */
export const crc32: (bytes: Uint8Array) => number =
  (zlib as { crc32?: (data: Uint8Array) => number }).crc32 ?? tableCrc32;

/** A curve from one side of the image to the other, as points; `bend` is how far it may leave the middle. */
function curve(width: number, height: number, bend = 0.8): Point[] {
  const y = () => rand(height * (0.5 - bend / 2), height * (0.5 + bend / 2));
  const far = () => rand(height * (0.5 - bend), height * (0.5 + bend));
  const p0: Point = [rand(0, width * 0.15), y()];
  const p1: Point = [rand(width * 0.2, width * 0.45), far()];
  const p2: Point = [rand(width * 0.55, width * 0.8), far()];
  const p3: Point = [rand(width * 0.85, width), y()];
  const points: Point[] = [];
  for (let i = 0; i <= 32; i++) {
    const t = i / 32;
    const u = 1 - t;
    const at = (k: 0 | 1) =>
      u * u * u * p0[k] + 3 * u * u * t * p1[k] + 3 * u * t * t * p2[k] + t * t * t * p3[k];
    points.push([at(0), at(1)]);
  }
  return points;
}

/** The most pixels the warp moves a point, either way. */
const WARP_MAX = 1.6;

/** Moves a glyph's strokes back inside the image, `pad` from every edge, when rotation and offset pushed them over one. */
function keepInside(lines: Point[][], width: number, height: number, pad: number): void {
  const points = lines.flat();
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const dx = shiftInto(Math.min(...xs), Math.max(...xs), pad, width - pad);
  const dy = shiftInto(Math.min(...ys), Math.max(...ys), pad, height - pad);
  for (const point of points) {
    point[0] += dx;
    point[1] += dy;
  }
}

function shiftInto(low: number, high: number, min: number, max: number): number {
  if (low < min) return min - low;
  if (high > max) return Math.max(max - high, min - low);
  return 0;
}

/** Splits every segment at a displaced midpoint, so the strokes are not the font's straight lines. */
function wobble(points: Point[], amount: number): Point[] {
  const out: Point[] = [];
  points.forEach((point, index) => {
    const previous = points[index - 1];
    if (previous) {
      out.push([
        (previous[0] + point[0]) / 2 + rand(-amount, amount),
        (previous[1] + point[1]) / 2 + rand(-amount, amount),
      ]);
    }
    out.push(point);
  });
  return out;
}

function midColor(): Rgb {
  return hsl(rand(0, 360), rand(30, 60), rand(50, 72));
}

function hsl(h: number, s: number, l: number): Rgb {
  const sat = s / 100;
  const light = l / 100;
  const k = (n: number) => (n + h / 30) % 12;
  const a = sat * Math.min(light, 1 - light);
  const f = (n: number) => light - a * Math.max(-1, Math.min(k(n) - 3, 9 - k(n), 1));
  return [Math.round(f(0) * 255), Math.round(f(8) * 255), Math.round(f(4) * 255)];
}

/** The characters of a captcha text to draw (upper case), or `SmsOtpConfigError` for a text that cannot be drawn. */
function checkedCaptchaText(text: unknown): string[] {
  if (typeof text !== 'string' || text.length < 1 || text.length > MAX_LENGTH) {
    throw new SmsOtpConfigError('text', `must be a string of 1 to ${MAX_LENGTH} characters`);
  }
  const chars = [...text.toUpperCase()];
  if (!chars.every((char) => CAPTCHA_ALPHABET.includes(char))) {
    throw new SmsOtpConfigError(
      'text',
      `must only use the characters of CAPTCHA_ALPHABET (${CAPTCHA_ALPHABET})`,
    );
  }
  return chars;
}

/** Random words from the CSPRNG, drawn a block at a time (one `randomFillSync` per 4 096 numbers). */
const pool = new Uint32Array(4096);
let drawn = pool.length;

/** A uniform random number in [min, max), from `crypto` (distortions must not be predictable). */
function rand(min: number, max: number): number {
  if (drawn === pool.length) {
    randomFillSync(pool);
    drawn = 0;
  }
  return min + (pool[drawn++]! / 2 ** 32) * (max - min);
}

function numberOption(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new SmsOtpConfigError(name, `must be a number from ${min} to ${max}`);
  }
  return value;
}
