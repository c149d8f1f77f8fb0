import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load-config.js';
import { configProblems } from '../../support/config-problems.js';

const routeYaml = (body: string): string => `routes:\n  - name: shop\n    match: { path: / }\n${body}`;

describe('route backends (weighted split) config', () => {
  it('accepts backends with weights (default 1) and a sticky header or cookie', () => {
    const config = parseConfigText(
      'c.yaml',
      routeYaml('    backends:\n      - { service: v1, weight: 90 }\n      - { service: v2 }\n    sticky: { cookie: user }\n'),
    );
    expect(config.routes[0]!.backends).toEqual([{ service: 'v1', weight: 90 }, { service: 'v2', weight: 1 }]);
    expect(config.routes[0]!.sticky).toEqual({ cookie: 'user' });
  });

  it.each([
    ['both service and backends', '    service: a\n    backends: [{ service: b }]\n', /routes\[0\]\.service: set exactly one of "service"/],
    ['neither service nor backends', '    stripPrefix: false\n', /routes\[0\]\.service: set exactly one of "service"/],
    ['an empty backend list', '    backends: []\n', /routes\[0\]\.backends: must list at least one backend/],
    ['a service listed twice', '    backends: [{ service: a }, { service: a }]\n', /routes\[0\]\.backends\[1\]\.service: service "a" is already listed/],
    ['weights all 0', '    backends: [{ service: a, weight: 0 }, { service: b, weight: 0 }]\n', /routes\[0\]\.backends: at least one backend must have a weight above 0/],
    ['a negative weight', '    backends: [{ service: a, weight: -1 }]\n', /routes\[0\]\.backends\[0\]\.weight: must be a whole number from 0 to 1000000/],
    ['a fractional weight', '    backends: [{ service: a, weight: 0.5 }]\n', /routes\[0\]\.backends\[0\]\.weight: must be a int \(got number 0\.5\)/],
    ['sticky without backends', '    service: a\n    sticky: { header: x-user }\n', /routes\[0\]\.sticky: only applies to a route with "backends"/],
    ['sticky on header and cookie', '    backends: [{ service: a }]\n    sticky: { header: x-user, cookie: user }\n', /routes\[0\]\.sticky: must set exactly one of "header" or "cookie"/],
    ['an unknown backend field', '    backends: [{ service: a, wieght: 2 }]\n', /routes\[0\]\.backends\[0\]/],
  ])('rejects %s with the field named', (_name, body, expected) => {
    const problems = configProblems('c.yaml', routeYaml(body));
    expect(problems.join('\n')).toMatch(expected);
    expect(problems.join('\n')).toMatch(/c\.yaml:\d+:\d+/);
  });
});

describe('tracing config', () => {
  it('is off by default and takes an OTLP endpoint when enabled', () => {
    expect(parseConfigText('c.yaml', '').tracing).toEqual({ enabled: false, sampled: true });
    const config = parseConfigText('c.yaml', 'tracing:\n  enabled: true\n  otlp: { endpoint: "http://127.0.0.1:4318" }\n');
    expect(config.tracing.otlp).toEqual({ endpoint: 'http://127.0.0.1:4318', headers: {}, serviceName: 'switchyard', maxQueue: 2048, batchSize: 512, flushInterval: 1000 });
  });

  it.each([
    ['an endpoint that is not an http URL', 'tracing:\n  enabled: true\n  otlp: { endpoint: "127.0.0.1:4318" }\n', /tracing\.otlp\.endpoint: must be an http:\/\/ or https:\/\/ URL/],
    ['otlp without enabled', 'tracing:\n  otlp: { endpoint: "http://127.0.0.1:4318" }\n', /tracing\.otlp: needs tracing\.enabled: true/],
    ['a zero flush interval', 'tracing:\n  enabled: true\n  otlp: { endpoint: "http://c:4318", flushInterval: 0 }\n', /tracing\.otlp\.flushInterval: must be a duration above 0/],
    ['a misspelt field', 'tracing:\n  enabeld: true\n', /tracing/],
  ])('rejects %s with the field named', (_name, text, expected) => {
    expect(configProblems('c.yaml', text).join('\n')).toMatch(expected);
  });
});

describe('rate limit config', () => {
  it('fills the defaults', () => {
    const config = parseConfigText('c.yaml', routeYaml('    service: a\n    rateLimit: { requests: 5 }\n'));
    expect(config.routes[0]!.rateLimit).toEqual({ requests: 5, per: 1000, by: 'clientAddress', maxKeys: 10_000, store: 'memory', onStoreFailure: 'open' });
  });

  it.each([
    ['a header without by: header', '    rateLimit: { requests: 5, header: x-key }\n', /routes\[0\]\.rateLimit\.header: only applies with by: header/],
    ['a burst of 0', '    rateLimit: { requests: 5, burst: 0 }\n', /routes\[0\]\.rateLimit\.burst: must be a whole number of at least 1/],
    ['an unknown key kind', '    rateLimit: { requests: 5, by: user }\n', /routes\[0\]\.rateLimit\.by: must be one of "clientAddress", "header", "route"/],
    ['negative requests', '    rateLimit: { requests: -1 }\n', /routes\[0\]\.rateLimit\.requests: must be a number of requests above 0/],
    ['no requests', '    rateLimit: { per: 1s }\n', /routes\[0\]\.rateLimit\.requests/],
  ])('rejects %s with the field named', (_name, body, expected) => {
    expect(configProblems('c.yaml', routeYaml(`    service: a\n${body}`)).join('\n')).toMatch(expected);
  });
});

describe('shared rate limit config (rateLimit.store: redis, rateLimitRedis)', () => {
  const shared = (redis: string, limit = '{ requests: 5, store: redis }') => `${redis}${routeYaml(`    service: a\n    rateLimit: ${limit}\n`)}`;

  it('fills the defaults of rateLimitRedis and keeps memory the default store', () => {
    const config = parseConfigText('c.yaml', shared('rateLimitRedis:\n  address: "127.0.0.1:6379"\n'));
    expect(config.rateLimitRedis).toEqual({ address: '127.0.0.1:6379', database: 0, keyPrefix: 'switchyard:ratelimit:', commandTimeout: 100, reservation: 100 });
    expect(config.routes[0]!.rateLimit).toMatchObject({ store: 'redis', onStoreFailure: 'open' });
    expect(parseConfigText('c.yaml', '').rateLimitRedis).toBeUndefined();
  });

  it('takes TLS, an ACL user with its password, a database, a prefix and timeouts', () => {
    const config = parseConfigText(
      'c.yaml',
      shared(
        'rateLimitRedis:\n  address: "[::1]:6380"\n  tls: { ca: ca.pem, serverName: redis.internal }\n  username: router\n  password: s3cret-pass\n  database: 3\n  keyPrefix: "edge:rl:"\n  commandTimeout: 20ms\n  reservation: 50ms\n',
        '{ requests: 5, store: redis, onStoreFailure: closed }',
      ),
    );
    expect(config.rateLimitRedis).toMatchObject({ address: '[::1]:6380', tls: { ca: 'ca.pem', serverName: 'redis.internal', verify: true }, username: 'router', password: 's3cret-pass', database: 3, keyPrefix: 'edge:rl:', commandTimeout: 20, reservation: 50 });
    expect(config.routes[0]!.rateLimit!.onStoreFailure).toBe('closed');
  });

  it.each([
    ['store: redis without rateLimitRedis', '', '{ requests: 5, store: redis }', /c\.yaml:\d+:\d+.*routes\[0\]\.rateLimit\.store: redis needs a top-level rateLimitRedis section/],
    ['an unknown store', '', '{ requests: 5, store: memcached }', /routes\[0\]\.rateLimit\.store: must be one of "memory", "redis"/],
    ['an unknown failure answer', 'rateLimitRedis: { address: "r:6379" }\n', '{ requests: 5, store: redis, onStoreFailure: maybe }', /routes\[0\]\.rateLimit\.onStoreFailure: must be one of "open", "closed"/],
    ['an address without a port', 'rateLimitRedis: { address: redis.internal }\n', undefined, /c\.yaml:1:\d+.*rateLimitRedis\.address: must be "host:port"/],
    ['a URL as address', 'rateLimitRedis: { address: "redis://r:6379" }\n', undefined, /rateLimitRedis\.address: must be "host:port"/],
    ['a port out of range', 'rateLimitRedis: { address: "r:70000" }\n', undefined, /rateLimitRedis\.address: must be "host:port"/],
    ['database 16', 'rateLimitRedis: { address: "r:6379", database: 16 }\n', undefined, /rateLimitRedis\.database: must be a database number from 0 to 15/],
    ['a zero command timeout', 'rateLimitRedis: { address: "r:6379", commandTimeout: 0 }\n', undefined, /rateLimitRedis\.commandTimeout: must be between "1ms" and "10s"/],
    ['a one-minute reservation', 'rateLimitRedis: { address: "r:6379", reservation: 1m }\n', undefined, /rateLimitRedis\.reservation: must be between "1ms" and "10s"/],
    ['an empty key prefix', 'rateLimitRedis: { address: "r:6379", keyPrefix: "" }\n', undefined, /rateLimitRedis\.keyPrefix: must be a non-empty key prefix/],
    ['a user without password', 'rateLimitRedis: { address: "r:6379", username: router }\n', undefined, /rateLimitRedis\.username: username needs password/],
    ['a TLS cert without key', 'rateLimitRedis: { address: "r:6379", tls: { cert: c.pem } }\n', undefined, /rateLimitRedis\.tls: cert and key must be given together/],
    ['a misspelt field', 'rateLimitRedis: { adress: "r:6379" }\n', undefined, /rateLimitRedis/],
  ])('rejects %s with file, line and field', (_name, redis, limit, expected) => {
    const problems = configProblems('c.yaml', shared(redis, limit)).join('\n');
    expect(problems).toMatch(expected);
    expect(problems).toMatch(/c\.yaml:\d+:\d+/);
  });

  it('never shows the password in a configuration error', () => {
    const problems = configProblems('c.yaml', 'rateLimitRedis: { address: nope, password: hunter2-secret }\n').join('\n');
    expect(problems).toMatch(/rateLimitRedis\.address/);
    expect(problems).not.toContain('hunter2-secret');
  });
});
