import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { renderReferenceTables } from '../../../src/config/config-reference.js';
import { durationSchema, sizeSchema } from '../../../src/config/duration.js';
import { formatDuration, formatSize, inputJsonSchema } from '../../../src/config/input-json-schema.js';

describe('configuration reference rendering', () => {
  const sample = z.strictObject({
    mode: z.enum(['a', 'b']).default('a').describe('Which mode: a | b.'),
    wait: durationSchema.default(90_000).describe('How long to wait.'),
    size: sizeSchema.default(16 * 1024).describe('How much.'),
    name: z.string().optional().describe('Shown as <name>. Default: the host name.'),
    port: z.number().int().min(1).max(65535).describe('Port to use. Required.'),
    tags: z.array(z.string()).default([]).describe('Tags.'),
    nested: z
      .strictObject({ deep: z.boolean().default(true).describe('A nested flag.') })
      .prefault({})
      .describe('A group.'),
    source: z
      .discriminatedUnion('type', [
        z.strictObject({ type: z.literal('file').describe('From a file. Required.'), path: z.string().default('x.yaml').describe('The file.') }),
        z.strictObject({ type: z.literal('net').describe('From the network. Required.') }),
      ])
      .optional()
      .describe('Where from. Default: nowhere.'),
  });
  const md = renderReferenceTables(inputJsonSchema(sample, 'sample'), 2);
  const rowOf = (field: string) => md.split('\n').find((l) => l.startsWith(`| \`${field}\` |`));

  it('writes field, type, default and meaning, durations and sizes as written in a file', () => {
    expect(rowOf('wait')).toBe('| `wait` | duration | `90s` | How long to wait. |');
    expect(rowOf('size')).toBe('| `size` | size | `16KiB` | How much. |');
    expect(rowOf('port')).toBe('| `port` | integer 1–65535 | required | Port to use. |');
    expect(rowOf('tags')).toBe('| `tags` | list of strings | `[]` | Tags. |');
  });

  it('takes a closing "Default: …" sentence into the default column and keeps "<" and "|" as text', () => {
    expect(rowOf('name')).toBe('| `name` | string | the host name | Shown as &lt;name&gt;. |');
    expect(rowOf('mode')).toBe('| `mode` | `a` \\| `b` | `a` | Which mode: a \\| b. |');
  });

  it('documents nested fields by dotted path and each variant of a union in its own table', () => {
    expect(md).toContain('## `nested`\n\nA group.\n');
    expect(rowOf('nested.deep')).toBe('| `nested.deep` | boolean | `true` | A nested flag. |');
    expect(rowOf('source')).toBe('| `source` | object with `type: file` or object with `type: net` | nowhere | Where from. |');
    expect(md).toContain('### `source` with `type: file`');
    expect(md).toContain('### `source` with `type: net`');
    expect(rowOf('source.path')).toBe('| `source.path` | string | `x.yaml` | The file. |');
  });

  it('formats durations and sizes with the largest exact unit', () => {
    expect([0, 250, 1000, 1500, 60_000, 90_000, 300_000, 7_200_000].map(formatDuration)).toEqual([0, '250ms', '1s', '1500ms', '1m', '90s', '5m', '2h']);
    expect([0, 100, 1024, 1536, 16 * 1024, 10 * 1024 ** 2, 1024 ** 3].map(formatSize)).toEqual([0, 100, '1KiB', 1536, '16KiB', '10MiB', '1GiB']);
  });

  it('emits a default only when it is valid input (a transformed default that would not parse is left out)', () => {
    const statuses = z.strictObject({
      ranges: z
        .array(z.string().transform((s) => s.split('-').map(Number)))
        .default([[200, 399]])
        .describe('Ranges.'),
    });
    const json = inputJsonSchema(statuses, 'statuses') as { properties: { ranges: { default?: unknown } } };
    expect(json.properties.ranges.default).toBeUndefined();
  });
});
