/**
 * A configuration document that sets every secret-bearing field, each to a value of its own
 * holding MARKER, so a test can look for MARKER in whatever is shown or logged. Also sets the
 * fields that look like secrets but are not (cookie names, certificate and key file paths), so
 * a test can check they stay visible.
 */

/** Every secret value below contains this; nothing the router shows or logs may. */
export const MARKER = 'LEAKMARK';

/** A secret value of 16+ characters naming where it was set, e.g. "LEAKMARK-admin-token-7f3a". */
export function secretValue(where: string): string {
  return `${MARKER}-${where}-7f3a9c`;
}

export interface SecretConfigPlaces {
  /** Consul agent address ("127.0.0.1:8500" form). */
  consulAddress: string;
  /** OTLP collector base URL (no credentials; the document adds them). */
  otlpEndpoint: string;
  /** Listener certificate and key files. */
  cert: string;
  key: string;
  /** A CA file for upstream TLS. */
  ca: string;
}

/** The document (as YAML would hold it): routes, services, tracing, Consul and sidecar sections, all with secrets. */
export function secretBearingConfig(places: SecretConfigPlaces): Record<string, unknown> {
  return {
    listeners: [{ name: 'web', address: '127.0.0.1', port: 0 }, { name: 'tls', address: '127.0.0.1', port: 0, tls: { cert: places.cert, key: places.key, certificates: [{ cert: places.cert, key: places.key }] } }],
    admin: { address: '127.0.0.1', port: 0, token: secretValue('admin-token'), readToken: secretValue('admin-readToken'), metricsListener: { address: '127.0.0.1', port: 0 } },
    registry: {
      type: 'consul',
      address: places.consulAddress,
      token: secretValue('registry-token'),
      tls: { ca: places.ca, cert: places.cert, key: places.key },
      stateKey: 'switchyard/secret-test',
      wait: '1s',
      startTimeout: '5s',
    },
    routes: [
      {
        name: 'api',
        match: { path: '/api', headers: { authorization: `Bearer ${secretValue('match-authorization')}`, 'x-tenant': 'acme' } },
        service: 'api',
        headerRules: {
          request: {
            set: { authorization: `Bearer ${secretValue('rule-authorization')}`, 'x-api-key': secretValue('rule-api-key'), 'x-visible': 'shown' },
            add: { cookie: `session=${secretValue('rule-cookie')}`, 'x-session-secret': secretValue('rule-session-secret') },
          },
          response: { set: { 'set-cookie': `s=${secretValue('rule-set-cookie')}` }, add: { 'x-auth-token': secretValue('rule-auth-token') } },
        },
      },
      { name: 'split', match: { path: '/split' }, backends: [{ service: 'api' }, { service: 'other' }], sticky: { cookie: 'session' } },
    ],
    // Port 1 refuses: the router starts, logs the store's outage (without the password) and serves.
    rateLimitRedis: { address: '127.0.0.1:1', username: 'switchyard', password: secretValue('redis-password') },
    services: {
      api: { tls: { ca: places.ca, serverName: 'api.internal' } },
      other: { balancer: 'consistent_hash', hashOn: { cookie: 'user' } },
    },
    tracing: {
      enabled: true,
      otlp: {
        endpoint: places.otlpEndpoint,
        headers: { authorization: `Bearer ${secretValue('otlp-authorization')}`, 'x-honeycomb-team': secretValue('otlp-team') },
        flushInterval: '50ms',
      },
    },
    sidecar: {
      service: 'orders',
      port: 8081,
      app: { command: ['node', 'app.js'], port: 3000, env: { DATABASE_URL: `postgres://app:${secretValue('env-db')}@db/app`, SIGNING_KEY: secretValue('env-signing') } },
      consul: { token: secretValue('sidecar-consul-token'), meta: { version: '1', 'deploy-token': secretValue('meta-token') } },
    },
  };
}
