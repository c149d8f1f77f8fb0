import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { configJsonSchema, type JsonSchema } from '../../../src/config/input-json-schema.js';
import { parseConfigText } from '../../../src/config/load-config.js';
import { isSecretPath, REDACTED, type ValuePath } from '../../../src/config/secret-paths.js';
import { configSecretShape, redactConfig, redactHeaderMap, redactLogFields, redactOverrides, redactUrlCredentials } from '../../../src/config/secret-redactor.js';
import { MARKER, secretBearingConfig, secretValue } from '../../support/secret-config.js';

/** The configuration with every secret-bearing field set (through the schema: defaults filled in). */
function filledConfig() {
  const doc = secretBearingConfig({
    consulAddress: 'https://consul.example:8501',
    otlpEndpoint: `https://collector:${secretValue('otlp-userinfo')}@collector.example:4318/?api_key=${secretValue('otlp-query')}&region=eu`,
    cert: 'certs/site.pem',
    key: 'certs/site.key',
    ca: 'certs/ca.pem',
  });
  return parseConfigText('c.yaml', stringify(doc));
}

/** Every plain value of a value with its path. */
function leaves(value: unknown, path: (string | number)[] = [], out: { path: (string | number)[]; value: unknown }[] = []) {
  if (Array.isArray(value)) value.forEach((v, i) => leaves(v, [...path, i], out));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) leaves(v, [...path, k], out);
  else out.push({ path, value });
  return out;
}

const HEADER_MAPS = [/^routes\.\d+\.match\.headers$/, /^routes\.\d+\.headerRules\.(request|response)\.(set|add)$/];

/**
 * The rule as the operations guide states it, written out independently of secret-paths.ts:
 * a field name containing token, password or secret (or their kin); every value of
 * tracing.otlp.headers and sidecar.app.env; the value of an Authorization-, Cookie- or
 * secret-named entry of a header or meta map.
 */
function stated(path: ValuePath): boolean {
  const text = path.join('.');
  if (/^tracing\.otlp\.headers\./.test(text) || /^sidecar\.app\.env\./.test(text)) return true;
  const last = String(path[path.length - 1]);
  const parent = path.slice(0, -1).join('.');
  if (HEADER_MAPS.some((m) => m.test(parent)) && /^((proxy-)?authorization|(set-)?cookie)$|token|secret|password|api-key/i.test(last)) return true;
  if (parent === 'sidecar.consul.meta' && /token|secret|password/i.test(last)) return true;
  // Field names (the map keys of this document name no secret on the way to an object).
  return path.some((p) => typeof p === 'string' && /token|password|secret/i.test(p));
}

describe('secret redaction of the configuration', () => {
  it('hides every leaf the rule names and changes no other, walking the whole filled configuration', () => {
    const config = filledConfig();
    const redacted = redactConfig(config);
    const before = leaves(config);
    const after = new Map(leaves(redacted).map((l) => [l.path.join('.'), l.value]));
    expect(after.size).toBe(before.length);
    let secrets = 0;
    for (const { path, value } of before) {
      const shown = after.get(path.join('.'));
      if (stated(path)) {
        secrets++;
        expect(shown, path.join('.')).toBe(REDACTED);
        expect(isSecretPath(path, configSecretShape()), path.join('.')).toBe(true);
      } else if (typeof value === 'string' && value.includes(MARKER)) {
        // Credentials inside a URL: the URL stays, its user information and secret parameters go.
        expect(path.join('.')).toBe('tracing.otlp.endpoint');
        expect(shown).toBe(`https://${REDACTED}@collector.example:4318/?api_key=${REDACTED}&region=eu`);
      } else {
        expect(shown, path.join('.')).toEqual(value);
        expect(isSecretPath(path, configSecretShape()), path.join('.')).toBe(false);
      }
    }
    // 2 admin tokens + registry token + Redis password + 2 OTLP headers + 7 match/header-rule values + 2 env + sidecar token and meta.
    expect(secrets).toBe(17);
    expect(JSON.stringify(redacted)).not.toContain(MARKER);
    // Not secrets: certificate and key paths, cookie names, other header values.
    expect(redacted.listeners[1]!.tls).toMatchObject({ cert: expect.stringContaining('site.pem'), key: expect.stringContaining('site.key') });
    expect(redacted.routes[1]!.sticky).toEqual({ cookie: 'session' });
    expect(redacted.services.other!.hashOn).toEqual({ cookie: 'user' });
    expect(redacted.routes[0]!.match.headers).toEqual({ authorization: REDACTED, 'x-tenant': 'acme' });
    expect(redacted.tracing.otlp!.headers).toEqual({ authorization: REDACTED, 'x-honeycomb-team': REDACTED });
    expect(redacted.admin).toMatchObject({ token: REDACTED, readToken: REDACTED, address: '127.0.0.1' });
    // The running configuration itself is not touched.
    expect(config.admin.token).toBe(secretValue('admin-token'));
  });

  it('fills every field the schema declares secret, or names like one, in the test document', () => {
    const declared: string[] = [];
    const named: string[] = [];
    const walk = (node: JsonSchema, path: string) => {
      if (node.writeOnly === true) declared.push(path);
      for (const variant of [...((node.anyOf as JsonSchema[]) ?? []), ...((node.oneOf as JsonSchema[]) ?? [])]) walk(variant, path);
      for (const [name, field] of Object.entries((node.properties ?? {}) as Record<string, JsonSchema>)) {
        if (/token|password|secret/i.test(name)) named.push(`${path}.${name}`.slice(1));
        walk(field, `${path}.${name}`);
      }
      if (typeof node.additionalProperties === 'object') walk(node.additionalProperties as JsonSchema, `${path}.*`);
      if (typeof node.items === 'object') walk(node.items as JsonSchema, `${path}[]`);
    };
    walk(configJsonSchema(), '');
    const paths = [...new Set([...declared.map((p) => p.slice(1)), ...named])].sort();
    expect(paths).toEqual(['admin.readToken', 'admin.token', 'rateLimitRedis.password', 'registry.token', 'sidecar.app.env.*', 'sidecar.consul.token', 'tracing.otlp.headers.*']);
    // A field named like a secret that the schema does not declare would be a slip: every one is declared.
    expect(named.every((n) => declared.includes(`.${n}`))).toBe(true);
    const filled = leaves(filledConfig()).map((l) => l.path.join('.'));
    for (const p of paths) {
      const pattern = new RegExp(`^${p.replace(/\./g, '\\.').replace('*', '[^.]+')}$`);
      expect(filled.some((f) => pattern.test(f)), `the test document sets ${p}`).toBe(true);
    }
  });

  it('returns a configuration without secrets as the same object (nothing copied)', () => {
    const config = parseConfigText('c.yaml', 'routes: [{ name: a, service: a }]\n');
    expect(redactConfig(config)).toBe(config);
  });

  it('knows a field name from a map key: a service named like a secret keeps its settings', () => {
    const config = parseConfigText('c.yaml', 'services:\n  token-service: { balancer: random }\n  secret-store: { connections: 4 }\n');
    expect(redactConfig(config).services).toEqual(config.services);
    const shape = configSecretShape();
    expect(isSecretPath(['services', 'token-service', 'balancer'], shape)).toBe(false);
    expect(isSecretPath(['routes', 0, 'sticky', 'cookie'], shape)).toBe(false);
    expect(isSecretPath(['routes', 0, 'match', 'headers', 'Authorization'], shape)).toBe(true);
    expect(isSecretPath(['routes', 0, 'match', 'headers', 'x-request-id'], shape)).toBe(false);
    expect(isSecretPath(['admin', 'token'], shape)).toBe(true);
    expect(isSecretPath(['admin', 'tokenFile'], shape)).toBe(true);
    expect(isSecretPath(['listeners', 0, 'tls', 'key'], shape)).toBe(false);
  });
});

describe('secret redaction of other admin answers and log lines', () => {
  it('hides credential header values of a header map', () => {
    expect(redactHeaderMap({ authorization: 'Bearer x', 'X-Api-Key': 'k', cookie: 'c=1', 'x-user': 'u' })).toEqual({ authorization: REDACTED, 'X-Api-Key': REDACTED, cookie: REDACTED, 'x-user': 'u' });
  });

  it('hides the secrets of routes added as overrides, as in the configuration', () => {
    const stored = [
      { id: 1, override: { op: 'add', route: { name: 'r', match: { headers: { authorization: 'Bearer s3', 'x-a': 'b' } }, headerRules: { request: { set: { 'x-api-key': 'k' }, add: {} } } } }, createdAt: 't' },
      { id: 2, override: { op: 'weight', service: 'token-service', weight: 2 }, createdAt: 't' },
    ];
    const shown = redactOverrides(stored);
    expect(shown[0]!.override.route!.match.headers).toEqual({ authorization: REDACTED, 'x-a': 'b' });
    expect(shown[0]!.override.route!.headerRules.request.set).toEqual({ 'x-api-key': REDACTED });
    expect(shown[1]).toBe(stored[1]);
  });

  it('hides secret-named fields, credential headers, URL credentials and a whole configuration in log fields', () => {
    const config = filledConfig();
    const err = new Error('boom');
    const line = redactLogFields({
      token: 't0ken',
      consulToken: 'ct',
      headers: { Authorization: 'Bearer x', 'x-consul-token': 'xc', accept: 'json' },
      url: 'http://user:pw@host:1/path?token=abc&x=1',
      config,
      err,
      service: 'web',
      count: 3,
    });
    expect(line).toMatchObject({ token: REDACTED, consulToken: REDACTED, headers: { Authorization: REDACTED, 'x-consul-token': REDACTED, accept: 'json' }, service: 'web', count: 3 });
    expect(line.url).toBe(`http://${REDACTED}@host:1/path?token=${REDACTED}&x=1`);
    expect(line.err).toBe(err);
    expect(JSON.stringify(line.config)).not.toContain(MARKER);
    const plain = { service: 'web', endpoint: '127.0.0.1:80', msg: 'x' };
    expect(redactLogFields(plain)).toBe(plain);
  });

  it('hides URL credentials and secret query parameters, and leaves other text alone', () => {
    expect(redactUrlCredentials('https://u:p@h.example:1/x')).toBe(`https://${REDACTED}@h.example:1/x`);
    expect(redactUrlCredentials('see postgres://app:pw@db/app and http://tok@h/')).toBe(`see postgres://${REDACTED}@db/app and http://${REDACTED}@h/`);
    expect(redactUrlCredentials('http://h/?X-Amz-Signature=abc&sig=1&page=2&auth=q')).toBe(`http://h/?X-Amz-Signature=${REDACTED}&sig=${REDACTED}&page=2&auth=${REDACTED}`);
    for (const text of ['plain text', 'user@example.com', 'http://h/a?b=c', '127.0.0.1:8500']) expect(redactUrlCredentials(text)).toBe(text);
  });
});

describe('configuration errors', () => {
  it('never echo the value given for a secret field', () => {
    for (const [yaml, field] of [
      ['admin: { token: 4242424242424242424242 }', 'admin.token'],
      ['admin: { token: 0123456789abcdef0, readToken: [1] }', 'admin.readToken'],
      ['registry: { type: consul, token: 4242424242424242 }', 'registry.token'],
      ['tracing: { enabled: true, otlp: { endpoint: "http://c:1", headers: { authorization: 4242424242424242 } } }', 'tracing.otlp.headers.authorization'],
    ] as const) {
      let message = '';
      try {
        parseConfigText('c.yaml', yaml);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, yaml).toContain(field);
      expect(message, yaml).not.toContain('4242424242424242');
      expect(message, yaml).toMatch(/a secret: value not shown|must be a string \(got a list\)/);
    }
    // Other fields still say what they got.
    expect(() => parseConfigText('c.yaml', 'admin: { port: "9901" }')).toThrow(/admin\.port: must be a number \(got string "9901"\)/);
  });

  it('rejects admin tokens that are short, contain white space, or a read token without a write token', () => {
    expect(() => parseConfigText('c.yaml', 'admin: { token: "0123456789abcdef ghij" }')).toThrow(/admin\.token: must not contain white space/);
    expect(() => parseConfigText('c.yaml', 'admin: { token: 0123456789abcdef, readToken: short }')).toThrow(/admin\.readToken: must be at least 16 characters/);
    expect(() => parseConfigText('c.yaml', 'admin: { readToken: 0123456789abcdef }')).toThrow(/admin\.readToken: needs admin\.token/);
    const config = parseConfigText('c.yaml', 'admin: { token: 0123456789abcdef, readToken: fedcba9876543210 }');
    expect(config.admin).toMatchObject({ token: '0123456789abcdef', readToken: 'fedcba9876543210' });
  });

  it('rejects OTLP headers the exporter sets itself, and values with line breaks', () => {
    const otlp = (headers: string) => `tracing: { enabled: true, otlp: { endpoint: "http://c:1", headers: ${headers} } }`;
    expect(() => parseConfigText('c.yaml', otlp('{ Content-Type: text/plain }'))).toThrow(/tracing\.otlp\.headers\.Content-Type: is set by the exporter itself/);
    expect(() => parseConfigText('c.yaml', otlp('{ "bad header": x }'))).toThrow(/must be a valid HTTP header name/);
    expect(() => parseConfigText('c.yaml', otlp('{ x-key: "a\\nb" }'))).toThrow(/tracing\.otlp\.headers\.x-key: must not contain CR, LF or NUL/);
    expect(parseConfigText('c.yaml', otlp('{ X-Key: v }')).tracing.otlp!.headers).toEqual({ 'x-key': 'v' });
  });
});
