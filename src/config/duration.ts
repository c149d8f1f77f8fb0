import { z } from 'zod';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

/** Parses "250ms", "5s", "1.5m", "2h" into milliseconds; returns undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_PATTERN.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
}

/**
 * What a duration field accepts, as its JSON Schema says it (editors check and complete with it):
 * a number of milliseconds or a string such as "5s". The pattern mirrors DURATION_PATTERN.
 */
const durationInputSchema = z.union([z.number(), z.string()]).meta({
  title: 'duration',
  anyOf: [
    { type: 'number', minimum: 0, maximum: 2_147_483_647, description: 'milliseconds (at most 2147483647, the longest timer Node.js can set)' },
    { type: 'string', pattern: `^\\s*${DURATION_PATTERN.source.slice(1, -1)}\\s*$`, description: 'a number and a unit: ms, s, m or h, e.g. "250ms", "5s", "1.5m"' },
  ],
});

/** A duration field: a number of milliseconds or a string such as "5s". Parses to milliseconds. */
export const durationSchema = durationInputSchema.transform((value, ctx) => {
  const ms = typeof value === 'number' ? value : parseDuration(value);
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
    ctx.addIssue({
      code: 'custom',
      message: `must be a duration such as "250ms", "5s", "1m" or a number of milliseconds (got ${JSON.stringify(value)})`,
    });
    return z.NEVER;
  }
  if (ms > MAX_DURATION_MS) {
    // Node fires a timer set for longer at once (after 1 ms), which would turn a long timeout into none.
    ctx.addIssue({ code: 'custom', message: `must be at most 596h (2147483647ms, the longest timer Node.js can set); got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return ms;
});

/** The longest delay setTimeout takes (2^31 - 1 ms, about 24.8 days). */
export const MAX_DURATION_MS = 2_147_483_647;

/** A size field: bytes as a number or a string such as "16KiB", "10MiB". */
const SIZE_UNITS: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3 };
const SIZE_PATTERN = /^(\d+(?:\.\d+)?)\s*(b|kib|mib|gib|kb|mb|gb)$/i;

export function parseSize(text: string): number | undefined {
  const m = SIZE_PATTERN.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
}

/** What a size field accepts, as its JSON Schema says it: bytes, or a string such as "16KiB". The pattern mirrors SIZE_PATTERN. */
const sizeInputSchema = z.union([z.number(), z.string()]).meta({
  title: 'size',
  anyOf: [
    { type: 'integer', minimum: 0, description: 'bytes' },
    { type: 'string', pattern: '^\\s*\\d+(\\.\\d+)?\\s*([bB]|[kKmMgG][iI]?[bB])\\s*$', description: 'a number and a unit: b, KiB, MiB, GiB, kB, MB, GB (any case), e.g. "16KiB"' },
  ],
});

export const sizeSchema = sizeInputSchema.transform((value, ctx) => {
  const bytes = typeof value === 'number' ? value : parseSize(value);
  if (bytes === undefined || !Number.isInteger(bytes) || bytes < 0) {
    ctx.addIssue({
      code: 'custom',
      message: `must be a size such as "16KiB", "10MiB" or a number of bytes (got ${JSON.stringify(value)})`,
    });
    return z.NEVER;
  }
  return bytes;
});
