import { z } from 'zod';
import { SmsOtpConfigError, SmsOtpError } from '../errors.js';
import type { Vendor } from './types.js';

/**
 * A template option: one value for every purpose, or one per purpose (`{ login: 'SMS_1', 'reset-password':
 * 'SMS_2' }`). Vendors in China approve one template per kind of message.
 */
export type PerPurpose<T> = T | Readonly<Record<string, T>>;

/** A template option once read: the value for a purpose, and which purposes it covers. */
export interface PurposeTemplates<T> {
  /** The purposes a map names; `undefined` when one value serves every purpose. */
  readonly purposes: readonly string[] | undefined;
  /** The value for `purpose` (the single value, or the map's entry; `undefined` when the map lacks it). */
  get(purpose: string): T | undefined;
}

/**
 * A zod schema for a template option: `value`, or a non-empty map from purpose to `value`.
 *
 * @example
 * z.strictObject({ templateCode: perPurposeSchema(z.string().min(1)) });
 */
export function perPurposeSchema<S extends z.ZodType>(value: S) {
  return z.union([
    value,
    z
      .record(z.string().min(1), value)
      .refine((map) => Object.keys(map).length > 0, 'give at least one purpose'),
  ]) as unknown as z.ZodType<PerPurpose<z.output<S>>>;
}

/**
 * Reads a parsed template option. `isValue` tells a single value from a map by purpose.
 *
 * @example
 * const templates = purposeTemplates(options.templateCode, (v): v is string => typeof v === 'string');
 * templates.get('login'); // 'SMS_1'
 */
export function purposeTemplates<T>(
  option: PerPurpose<T>,
  isValue: (value: unknown) => value is T,
): PurposeTemplates<T> {
  if (isValue(option)) return { purposes: undefined, get: () => option };
  const map = new Map(Object.entries(option as Record<string, T>));
  return { purposes: [...map.keys()], get: (purpose) => map.get(purpose) };
}

/**
 * The purposes every one of `vendors` has a template for: `undefined` when all take any purpose.
 *
 * @example
 * commonPurposes([ronglianSender({ …, templateId: { login: '1' } }), consoleSender()]); // ['login']
 */
export function commonPurposes(vendors: readonly Vendor[]): string[] | undefined {
  let common: string[] | undefined;
  for (const vendor of vendors) {
    if (!vendor.purposes) continue;
    common = common ? common.filter((p) => vendor.purposes!.includes(p)) : [...vendor.purposes];
  }
  return common;
}

/**
 * Start-up check: a vendor with templates per purpose must have one for every purpose the engine
 * configures (a missing template is a set-up error, not a send-time surprise).
 */
export function checkVendorPurposes(vendor: Vendor, purposes: readonly string[]): void {
  if (!vendor.purposes) return;
  const missing = purposes.filter((purpose) => !vendor.purposes!.includes(purpose));
  if (missing.length > 0) {
    throw new SmsOtpConfigError(
      'sender',
      `${vendor.name} has no template for purpose${missing.length > 1 ? 's' : ''} ${missing
        .map((p) => `"${p}"`)
        .join(
          ', ',
        )}: add ${missing.length > 1 ? 'them' : 'it'} to its template map, or give one template for every purpose`,
    );
  }
}

/**
 * The template an adapter uses for `purpose`. A purpose missing from the map (an adapter used outside
 * `createSmsOtp`, which refuses such a set-up at start-up) is `SEND_FAILED` with `reason: 'template'` and
 * `details.purpose`, before any request.
 *
 * @example
 * const code = templateFor('aliyun', templates, message.purpose);
 */
export function templateFor<T>(vendor: string, templates: PurposeTemplates<T>, purpose: string): T {
  const template = templates.get(purpose);
  if (template === undefined) {
    throw new SmsOtpError('SEND_FAILED', { vendor, reason: 'template', purpose, noTemplate: true });
  }
  return template;
}
