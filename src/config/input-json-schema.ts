import { z } from 'zod';
import { configSchema } from './schema.js';

/** A JSON Schema document (draft 2020-12), as plain JSON. */
export type JsonSchema = { [keyword: string]: unknown };

const UNITS_MS: ReadonlyArray<readonly [string, number]> = [
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
];
const UNITS_BYTES: ReadonlyArray<readonly [string, number]> = [
  ['GiB', 1024 ** 3],
  ['MiB', 1024 ** 2],
  ['KiB', 1024],
];

/** Milliseconds as the shortest exact duration string: 30000 → "30s", 250 → "250ms", 0 → "0". */
export function formatDuration(ms: number): string | number {
  if (ms === 0) return 0;
  for (const [unit, size] of UNITS_MS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** Bytes as the shortest exact size string: 16384 → "16KiB"; other counts stay numbers. */
export function formatSize(bytes: number): string | number {
  if (bytes === 0) return 0;
  for (const [unit, size] of UNITS_BYTES) if (bytes % size === 0) return `${bytes / size}${unit}`;
  return bytes;
}

/**
 * The JSON Schema (draft 2020-12) of what a file may contain for `schema`: zod's `toJSONSchema`
 * on the input side, so durations and sizes accept what the file accepts ("5s", 5000).
 *
 * zod leaves out the `default` of a field whose schema transforms its input (a default is an
 * output value); this puts it back where the output value is also valid input, written as a
 * duration or size string where the field is one ("30s", not 30000), so editors complete
 * sensible values and docs/configuration.md can show every default.
 */
export function inputJsonSchema(schema: z.ZodType, title: string): JsonSchema {
  const json = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: 'input',
    // Refinements and transforms have no JSON Schema form; the schema says what it can and
    // `switchyard check` says the rest.
    unrepresentable: 'any',
    override: ({ zodSchema, jsonSchema }) => {
      const def = zodSchema._zod.def;
      if (def.type !== 'default' || jsonSchema.default !== undefined) return;
      const value: unknown = def.defaultValue;
      if (jsonSchema.title === 'duration' && typeof value === 'number') jsonSchema.default = formatDuration(value);
      else if (jsonSchema.title === 'size' && typeof value === 'number') jsonSchema.default = formatSize(value);
      else if (z.safeParse(zodSchema, value).success) jsonSchema.default = JSON.parse(JSON.stringify(value)) as unknown;
    },
  }) as JsonSchema;
  const { $schema, ...rest } = json;
  return { $schema, title, ...rest };
}

/** The JSON Schema of a Switchyard configuration file (printed by `switchyard schema`). */
export function configJsonSchema(): JsonSchema {
  return inputJsonSchema(configSchema, 'Switchyard configuration');
}
