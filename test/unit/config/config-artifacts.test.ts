import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { configArtifacts } from '../../../scripts/config-artifacts.js';
import { parseDuration, parseSize } from '../../../src/config/duration.js';
import { configJsonSchema, type JsonSchema } from '../../../src/config/input-json-schema.js';
import { loadConfig } from '../../../src/config/load-config.js';
import { configSchema } from '../../../src/config/schema.js';
import { parseServicesFile } from '../../../src/registry/services-file.js';
import { DRAFT_2020_12, jsonSchemaStructureProblems } from '../../support/json-schema-structure.js';

const artifacts = configArtifacts();
const SERVICES_SCHEMA = JSON.parse(artifacts.get('config/services.schema.json')!) as JsonSchema;

/** Every field of a JSON Schema, by dotted path, as its node. */
function fields(node: JsonSchema, path = ''): Array<[string, JsonSchema]> {
  const out: Array<[string, JsonSchema]> = [];
  for (const [name, field] of Object.entries((node.properties ?? {}) as Record<string, JsonSchema>)) {
    const p = path ? `${path}.${name}` : name;
    out.push([p, field], ...fields(field, p));
  }
  const items = node.items as JsonSchema | undefined;
  if (items && typeof items === 'object') out.push(...fields(items, `${path}[]`));
  const values = node.additionalProperties;
  if (values && typeof values === 'object') out.push(...fields(values as JsonSchema, `${path}.<name>`));
  for (const variant of ((node.oneOf ?? node.anyOf ?? []) as JsonSchema[])) out.push(...fields(variant, path));
  return out;
}

describe('files generated from the configuration schema', () => {
  it.each([...artifacts.keys()])('%s is the one `npm run docs:config` generates', async (path) => {
    const committed = await readFile(path, 'utf8').catch(() => '(missing)');
    // On failure: run `npm run docs:config` and commit the result.
    expect(committed, `${path} differs from the schema: run npm run docs:config`).toBe(artifacts.get(path));
  });

  it('`switchyard schema` and config/switchyard.schema.json carry the same JSON Schema', () => {
    expect(JSON.parse(artifacts.get('config/switchyard.schema.json')!)).toEqual(configJsonSchema());
  });

  it('every field of the configuration and of the services file has a description', () => {
    const all = [...fields(configJsonSchema()), ...fields(SERVICES_SCHEMA)];
    expect(all.length).toBeGreaterThan(150);
    const undescribed = all.filter(([, node]) => typeof node.description !== 'string' || node.description.length < 8).map(([path]) => path);
    expect(undescribed).toEqual([]);
  });

  it('every field has a default, or is required, or says what applies when it is left out', () => {
    const silent = fields(configJsonSchema()).filter(([path, node]) => {
      if (node.default !== undefined || /Default: |Required\./.test(String(node.description))) return false;
      // Objects that group fields (each with its own default) and "exactly one of" choices.
      return !(node.type === 'object' || path.includes('.hashOn'));
    });
    expect(silent.map(([path]) => path)).toEqual([]);
  });

  it('the documented defaults are valid input and mean what leaving the field out means', () => {
    const parse = (input: unknown) => configSchema.parse(input) as unknown as Record<string, Record<string, unknown> | undefined>;
    const empty = parse({});
    const service = configSchema.parse({ services: { s: {} } }).services.s as unknown as Record<string, unknown>;
    const schema = configJsonSchema();
    const top = schema.properties as Record<string, JsonSchema>;
    const checked: string[] = [];
    for (const [name, node] of Object.entries(top)) {
      if (node.default !== undefined) {
        expect(parse({ [name]: node.default })[name], name).toEqual(empty[name]);
        checked.push(name);
      }
      // Optional sections (demo, sidecar) are absent when left out; their fields need the section.
      if (empty[name] === undefined) continue;
      for (const [field, sub] of Object.entries((node.properties ?? {}) as Record<string, JsonSchema>)) {
        if (sub.default === undefined) continue;
        expect(parse({ [name]: { [field]: sub.default } })[name]![field], `${name}.${field}`).toEqual(empty[name]![field]);
        checked.push(`${name}.${field}`);
      }
    }
    const serviceFields = ((top.services!.additionalProperties as JsonSchema).properties ?? {}) as Record<string, JsonSchema>;
    for (const [field, sub] of Object.entries(serviceFields)) {
      if (sub.default === undefined) continue;
      expect(configSchema.parse({ services: { s: { [field]: sub.default } } }).services.s![field as 'balancer'], `services.<name>.${field}`).toEqual(service[field]);
      checked.push(`services.<name>.${field}`);
    }
    expect(checked).toEqual(expect.arrayContaining(['timeouts.headers', 'limits.maxHeaderSize', 'registry', 'services.<name>.connections', 'workers']));
  });

  it('durations and sizes in the JSON Schema accept exactly what the configuration accepts', () => {
    const top = configJsonSchema().properties as Record<string, JsonSchema>;
    const limits = (top.limits!.properties ?? {}) as Record<string, JsonSchema>;
    const pattern = (node: JsonSchema) => new RegExp(((node.anyOf as JsonSchema[]).find((b) => b.type === 'string')!.pattern as string), 'u');
    const duration = pattern(limits.headersTimeout!);
    const size = pattern(limits.maxBodySize!);
    for (const text of ['250ms', '5s', '1.5m', '2h', ' 5s', '0s', '5', 's', '5 s', '5sec', '1e3ms', '-1s', '']) {
      expect(duration.test(text), `duration ${JSON.stringify(text)}`).toBe(parseDuration(text) !== undefined);
    }
    for (const text of ['16KiB', '10MiB', '1GiB', '512b', '2kb', '3MB', '1gb', '16 KiB', '16', 'KiB', '16KB ', '1.5KiB', '16Ki', '-1KiB']) {
      expect(size.test(text), `size ${JSON.stringify(text)}`).toBe(parseSize(text) !== undefined);
    }
  });
});

describe('the JSON Schemas are well-formed draft 2020-12', () => {
  it.each([
    ['config/switchyard.schema.json', configJsonSchema()],
    ['config/services.schema.json', SERVICES_SCHEMA],
  ])('%s', (_name, schema) => {
    expect(schema.$schema).toBe(DRAFT_2020_12);
    expect(jsonSchemaStructureProblems(schema)).toEqual([]);
  });

  it('the structure check finds what is wrong, naming where', () => {
    expect(jsonSchemaStructureProblems([])).toEqual(['#: the document must be a JSON object']);
    expect(jsonSchemaStructureProblems({ type: 'object' })).toEqual([`#/$schema: must be "${DRAFT_2020_12}" (got undefined)`]);
    const bad = {
      $schema: DRAFT_2020_12,
      type: 'object',
      properties: {
        a: { type: 'text' },
        b: { type: 'string', pattern: '(' },
        c: { minLength: -1, maxItems: 1.5 },
        d: { anyOf: [] },
        e: { $ref: '#/$defs/missing' },
        f: { nullable: true },
        g: 5,
      },
      required: ['a', 'a', 'z'],
      additionalProperties: 'no',
    };
    expect(jsonSchemaStructureProblems(bad)).toEqual([
      '#/properties/a/type: must be one of null, boolean, object, array, number, string, integer or a non-empty array of unique ones (got "text")',
      expect.stringMatching(/^#\/properties\/b\/pattern: not a valid ECMA-262 regular expression/),
      '#/properties/c/minLength: must be a non-negative integer',
      '#/properties/c/maxItems: must be a non-negative integer',
      '#/properties/d/anyOf: must be a non-empty array of schemas',
      '#/properties/e/$ref: "#/$defs/missing" does not resolve in this document',
      '#/properties/f/nullable: "nullable" is not a draft 2020-12 keyword',
      '#/properties/g: a schema must be an object or a boolean (got 5)',
      '#/required: must be an array of unique strings',
      '#/additionalProperties: a schema must be an object or a boolean (got "no")',
      '#/required: "z" is required but not among the properties',
    ]);
  });
});

describe('shipped configuration files', () => {
  const MODELINE = /^# yaml-language-server: \$schema=\.\/(\S+)\n/;

  it('every config/*.yaml names its JSON Schema in the yaml-language-server modeline, and that schema is shipped', async () => {
    const files = (await readdir('config')).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) {
      const text = await readFile(`config/${file}`, 'utf8');
      const schema = MODELINE.exec(text)?.[1];
      expect(schema, `config/${file} has no yaml-language-server modeline on its first line`).toMatch(/^(switchyard|services)\.schema\.json$/);
      expect(artifacts.has(`config/${schema}`)).toBe(true);
    }
  });

  it('every config/*.yaml is valid for the schema its modeline names (checked with the zod schema)', async () => {
    const files = (await readdir('config')).filter((f) => f.endsWith('.yaml'));
    const checked: string[] = [];
    for (const file of files) {
      const path = `config/${file}`;
      const text = await readFile(path, 'utf8');
      if (MODELINE.exec(text)?.[1] === 'services.schema.json') {
        expect(parseServicesFile(path, text).services.size, path).toBeGreaterThan(0);
      } else {
        const { config } = await loadConfig(path);
        expect(config.listeners.length, path).toBeGreaterThan(0);
      }
      checked.push(file);
    }
    expect(checked.sort()).toEqual(files.sort());
  });
});
