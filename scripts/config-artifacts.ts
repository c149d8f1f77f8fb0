import { renderReferenceTables } from '../src/config/config-reference.js';
import { configJsonSchema, inputJsonSchema } from '../src/config/input-json-schema.js';
import { servicesFileSchema } from '../src/registry/services-file.js';

/**
 * The files generated from the zod schemas, by path relative to the repository root:
 * docs/configuration.md (the reference), config/switchyard.schema.json and
 * config/services.schema.json (JSON Schemas for editors). `npm run docs:config` writes them;
 * test/unit/config/config-artifacts.test.ts fails when a committed copy differs.
 */
export function configArtifacts(): Map<string, string> {
  const config = configJsonSchema();
  const services = inputJsonSchema(servicesFileSchema, 'Switchyard services file (file registry)');
  const reference = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts, src/config/sidecar-schema.ts and src/registry/services-file.ts',
    '     by `npm run docs:config`; do not edit by hand (a test compares this file with the schema). -->',
    '',
    'Switchyard reads one YAML file (JSON is valid YAML): `switchyard start config/default.yaml`.',
    'Every object is strict: an unknown field is an error. Durations are numbers of milliseconds',
    'or strings such as `250ms`, `5s`, `1.5m`, `2h`; sizes are bytes or strings such as `16KiB`,',
    '`10MiB`. `switchyard check <file>` validates a file without starting; errors name the file,',
    'line, column, field and what is expected:',
    '',
    '```',
    'config/default.yaml:12:13: routes[2].match.path: must start with "/"',
    'config/default.yaml:8:5: routes[1].mtach: unknown field (check its spelling against the configuration reference)',
    'config/default.yaml:2:11: listeners[0].port: must be a number (got string "8080")',
    '```',
    '',
    '**Editor support.** `switchyard schema` prints the JSON Schema of this file (also committed as',
    '`config/switchyard.schema.json`; `config/services.schema.json` covers the services file). With',
    'the first line below, editors using the YAML language server (VS Code\'s YAML extension, and',
    'others) check and complete the file as you type (the path is relative to the YAML file; for a',
    'configuration kept elsewhere, write the schema beside it with `switchyard schema >',
    'switchyard.schema.json`, and again after upgrading Switchyard):',
    '',
    '```yaml',
    '# yaml-language-server: $schema=./switchyard.schema.json',
    '```',
    '',
    'The JSON Schema cannot say everything: cross-field rules (`timeout` ≤ `interval`, `hashOn` only',
    'with `consistent_hash`, unique route names, a token off loopback, …) and file checks are made by',
    '`switchyard check` and at start and reload.',
    '',
    '## Top level',
    '',
    renderReferenceTables(config, 2).trimEnd(),
    '',
    '## Services file',
    '',
    'The file registry (`registry: {type: file}`) reads services and instances from a YAML file',
    '(`registry.path`, default `services.yaml` beside the config). It is watched; a broken edit is',
    'logged with its exact error (file, line, field) and the previous good services keep serving.',
    '',
    '```yaml',
    'services:',
    '  orders:',
    '    tags: [team-a]              # optional, service-level tags',
    '    instances:',
    '      - id: orders-1            # default "address:port"',
    '        address: 10.0.0.5',
    '        port: 8081',
    '        weight: 2               # default 1; relative share of traffic',
    '        tags: [v2]',
    '        meta: { zone: a }',
    '        health: passing         # passing (default) | warning | critical (= not routed)',
    '```',
    '',
    renderReferenceTables(services, 3).trimEnd(),
    '',
  ].join('\n');
  return new Map([
    ['docs/configuration.md', reference],
    ['config/switchyard.schema.json', `${JSON.stringify(config, null, 2)}\n`],
    ['config/services.schema.json', `${JSON.stringify(services, null, 2)}\n`],
  ]);
}
