import type { z } from 'zod';

/** An option's path and what is wrong with it, as a `SmsOtpConfigError` says it. */
export interface ConfigIssue {
  path: PropertyKey[];
  message: string;
}

/**
 * Words the first problem zod found with a set of options. An unknown key (a typo such as `maxAttempt`) is
 * named by its own path, with the nearest known option when there is one: options are strict, since an
 * option mistyped would otherwise leave its default in place without a word.
 *
 * @example
 * describeConfigIssue(optionsSchema, issue); // { path: ['maxAttempt'], message: 'is not an option (did you mean "maxAttempts"?)' }
 */
export function describeConfigIssue(schema: z.ZodType, issue: z.core.$ZodIssue): ConfigIssue {
  if (issue.code !== 'unrecognized_keys') return { path: issue.path, message: issue.message };
  const key = issue.keys[0] ?? '';
  const hint = nearest(key, keysAt(schema, issue.path));
  return {
    path: [...issue.path, key],
    message: `is not an option${hint === undefined ? '' : ` (did you mean "${hint}"?)`}`,
  };
}

interface Def {
  type: string;
  innerType?: unknown;
  in?: unknown;
  options?: unknown[];
  shape?: Record<string, unknown>;
}

const defOf = (schema: unknown): Def | undefined =>
  (schema as { _zod?: { def?: Def } } | undefined)?._zod?.def;

/** The object schema inside optional / default / prefault / pipe wrappers and unions, if any. */
function objectIn(schema: unknown): Record<string, unknown> | undefined {
  let def = defOf(schema);
  for (let depth = 0; def && depth < 10; depth++) {
    if (def.type === 'object') return def.shape;
    if (def.type === 'union') {
      for (const option of def.options ?? []) {
        const shape = objectIn(option);
        if (shape) return shape;
      }
      return undefined;
    }
    def = defOf(def.innerType ?? def.in);
  }
  return undefined;
}

/** The keys of the object schema at `path`. */
function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let shape = objectIn(schema);
  for (const step of path) shape = shape && objectIn(shape[String(step)]);
  return shape ? Object.keys(shape) : [];
}

/** The known key closest to `key`: the same but for case, or at most two edits away. */
function nearest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance = candidate.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length]!;
}
