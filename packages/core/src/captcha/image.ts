import { randomInt } from 'node:crypto';
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
 * Options of {@link renderCaptchaSvg}.
 *
 * @example
 * const options: CaptchaSvgOptions = { width: 200, height: 60, noise: 4 };
 */
export interface CaptchaSvgOptions {
  /** Image width in pixels, 60–1000; default 150. */
  width?: number;
  /** Image height in pixels, 24–400; default 50. */
  height?: number;
  /** Noise curves drawn across the image, 0–10; default 3. Each also brings a few dots. */
  noise?: number;
}

type Point = [number, number];

interface Element {
  /** The `d` attribute. */
  d: string;
  stroke: string;
  width: number;
}

/**
 * Draws `text` as an SVG image for a person to read back. Every character is drawn with `<path>` strokes
 * from a built-in stroke font, with a random offset, rotation, scale and skew and a little wobble on every
 * vertex; noise curves and dots are drawn in the same way and all paths are shuffled. The markup has no
 * `<text>` element, no font and none of the characters; the result differs on every call.
 *
 * Lower-case letters are drawn as upper case. A character outside {@link CAPTCHA_ALPHABET} throws
 * `SmsOtpConfigError` (option `text`). A built-in image captcha stops casual scripts, not a determined
 * attacker with OCR: put Turnstile, hCaptcha or reCAPTCHA in front of high-value routes.
 *
 * @example
 * const text = captchaText();
 * const svg = renderCaptchaSvg(text, { width: 150, height: 50 });
 * res.json({ captchaKey: key, image: captchaDataUri(svg) });
 */
export function renderCaptchaSvg(text: string, options: CaptchaSvgOptions = {}): string {
  const width = numberOption('width', options.width, 150, 60, 1000);
  const height = numberOption('height', options.height, 50, 24, 400);
  const noise = numberOption('noise', options.noise, 3, 0, 10);
  if (!Number.isInteger(noise)) throw new SmsOtpConfigError('noise', 'must be an integer from 0 to 10');
  const chars = checkedCaptchaText(text);

  const hue = rand(0, 360);
  const background = `hsl(${hue.toFixed(0)},35%,${rand(93, 97).toFixed(0)}%)`;
  const elements: Element[] = [];

  const margin = width * 0.06;
  const slot = (width - 2 * margin) / chars.length;
  // Pixels per grid unit: the glyph fills about 62% of the height and 72% of its slot.
  const unit = Math.min((height * 0.62) / GLYPH_HEIGHT, (slot * 0.72) / GLYPH_WIDTH);
  const strokeBase = Math.max(1.6, unit * 0.5);

  chars.forEach((char, index) => {
    const scale = unit * rand(0.88, 1.08);
    const angle = (rand(-20, 20) * Math.PI) / 180;
    const skew = rand(-0.22, 0.22);
    const cx = margin + slot * (index + 0.5) + rand(-0.08, 0.08) * slot;
    const cy = height / 2 + rand(-0.09, 0.09) * height;
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    const place = ([gx, gy]: readonly [number, number]): Point => {
      const x = gx - GLYPH_WIDTH / 2 + rand(-0.1, 0.1);
      const y = gy - GLYPH_HEIGHT / 2 + rand(-0.1, 0.1);
      const sx = (x + skew * y) * scale;
      const sy = y * scale;
      return [cx + sx * cos - sy * sin, cy + sx * sin + sy * cos];
    };
    const stroke = darkColor();
    const strokeWidth = strokeBase * rand(0.85, 1.15);
    const lines = (STROKE_FONT[char] as readonly Stroke[]).map((line) =>
      wobble(line.map(place), unit * 0.12),
    );
    keepInside(lines, width, height, strokeWidth);
    for (const points of lines) {
      if (randomInt(2) === 1) points.reverse();
      elements.push({ d: polyline(points), stroke, width: strokeWidth });
    }
  });

  for (let i = 0; i < noise; i++) {
    elements.push({ d: noiseCurve(width, height), stroke: midColor(), width: rand(0.8, strokeBase * 0.6) });
  }
  for (let i = 0; i < noise * 10; i++) {
    const x = rand(0, width);
    const y = rand(0, height);
    elements.push({ d: `M${fmt(x)} ${fmt(y)}h0.01`, stroke: midColor(), width: rand(1.2, 2.6) });
  }

  shuffle(elements);
  const paths = elements
    .map((e) => `<path d="${e.d}" stroke="${e.stroke}" stroke-width="${fmt(e.width)}"/>`)
    .join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}">` +
    `<rect width="100%" height="100%" fill="${background}"/>` +
    `<g fill="none" stroke-linecap="round" stroke-linejoin="round">${paths}</g>` +
    '</svg>'
  );
}

/**
 * Wraps an SVG in a `data:` URI (base64) for an `<img src>` or a JSON field.
 *
 * @example
 * const src = captchaDataUri(renderCaptchaSvg(captchaText()));
 * // 'data:image/svg+xml;base64,PHN2ZyB4bWxucz0i…'
 */
export function captchaDataUri(svg: string): string {
  return `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
}

function numberOption(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new SmsOtpConfigError(name, `must be a number from ${min} to ${max}`);
  }
  return value;
}

/** The characters of a captcha text to draw (upper case), or `SmsOtpConfigError` for a text that cannot be drawn. */
export function checkedCaptchaText(text: unknown): string[] {
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

/** A uniform random number in [min, max), from `crypto.randomInt` (distortions must not be predictable). */
function rand(min: number, max: number): number {
  return min + (randomInt(0, 1_000_000) / 1_000_000) * (max - min);
}

/** Splits every segment in two at a slightly displaced midpoint, so no path repeats the font's vertices. */
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

/** Moves a glyph's strokes back inside the image when rotation and offset pushed them over an edge. */
function keepInside(lines: Point[][], width: number, height: number, strokeWidth: number): void {
  const points = lines.flat();
  const pad = strokeWidth / 2 + 1;
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

function polyline(points: readonly Point[]): string {
  return points.map(([x, y], index) => `${index === 0 ? 'M' : 'L'}${fmt(x)} ${fmt(y)}`).join('');
}

/** A cubic curve from one side of the image to the other. */
function noiseCurve(width: number, height: number): string {
  const y = () => fmt(rand(height * 0.1, height * 0.9));
  return (
    `M${fmt(rand(0, width * 0.15))} ${y()}` +
    `C${fmt(rand(width * 0.2, width * 0.45))} ${fmt(rand(-height * 0.3, height * 1.3))} ` +
    `${fmt(rand(width * 0.55, width * 0.8))} ${fmt(rand(-height * 0.3, height * 1.3))} ` +
    `${fmt(rand(width * 0.85, width))} ${y()}`
  );
}

function darkColor(): string {
  return `hsl(${rand(0, 360).toFixed(0)},${rand(55, 80).toFixed(0)}%,${rand(18, 32).toFixed(0)}%)`;
}

function midColor(): string {
  return `hsl(${rand(0, 360).toFixed(0)},${rand(30, 60).toFixed(0)}%,${rand(50, 72).toFixed(0)}%)`;
}

function fmt(value: number): string {
  return (Math.round(value * 10) / 10).toString();
}

function shuffle<T>(items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
}
