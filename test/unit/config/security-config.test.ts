import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load-config.js';
import { configProblems } from '../../support/config-problems.js';

const parse = (yaml: string) => parseConfigText('test.yaml', yaml);

const problemOf = (yaml: string) => configProblems('test.yaml', yaml).join('\n');

describe('security and limits configuration', () => {
  it('has safe defaults', () => {
    const c = parse('{}');
    expect(c.limits).toEqual({
      maxHeaderSize: 16 * 1024,
      maxHeaderCount: 100,
      maxBodySize: 10 * 1024 * 1024,
      maxConnections: 10_000,
      maxUpgrades: 1_000,
      headersTimeout: 10_000,
      requestTimeout: 300_000,
      keepAliveTimeout: 5_000,
      http2: { maxConcurrentStreams: 128, initialWindowSize: 256 * 1024, maxSessionMemory: 16 * 1024 * 1024, prematureResetLimit: 100 },
    });
    expect(c.proxy.encodedSlashes).toBe('reject');
    expect(c.admin.address).toBe('127.0.0.1');
    expect(c.listeners[0]!.redirectToHttps).toBe(false);
  });

  it('requires an admin token off loopback and accepts loopback without one', () => {
    expect(problemOf('admin: { address: 0.0.0.0 }')).toContain('admin.token');
    expect(problemOf('admin: { address: 10.1.2.3, token: short }')).toContain('at least 16 characters');
    expect(parse('admin: { address: 0.0.0.0, token: 0123456789abcdef0 }').admin.token).toBe('0123456789abcdef0');
    expect(parse('admin: { address: "::1" }').admin.address).toBe('::1');
    expect(parse('admin: { address: 127.0.0.2 }').admin.address).toBe('127.0.0.2');
    expect(parse('admin: { address: 0.0.0.0, enabled: false }').admin.enabled).toBe(false);
  });

  it('refuses a headers timeout longer than the request timeout', () => {
    expect(problemOf('limits: { headersTimeout: 20s, requestTimeout: 10s }')).toContain('limits.requestTimeout');
  });

  it('parses listener TLS, upstream TLS and per-route body limits', () => {
    const c = parse(`
listeners:
  - port: 8443
    tls: { cert: a.pem, key: a.key, certificates: [{ cert: b.pem, key: b.key }] }
  - port: 8080
    redirectToHttps: 8443
services:
  api: { tls: { ca: ca.pem, serverName: API.internal } }
routes:
  - { name: up, service: api, maxBodySize: 1MiB }
`);
    expect(c.listeners[0]!.tls).toEqual({ cert: 'a.pem', key: 'a.key', certificates: [{ cert: 'b.pem', key: 'b.key' }], minVersion: 'TLSv1.2', watch: true });
    expect(c.listeners[1]!.redirectToHttps).toBe(8443);
    expect(c.services.api!.tls).toEqual({ ca: 'ca.pem', verify: true, serverName: 'api.internal' });
    expect(c.routes[0]!.maxBodySize).toBe(1024 * 1024);
    expect(problemOf('listeners: [{ port: 1, tls: { cert: a.pem } }]')).toContain('key');
    expect(problemOf('listeners: [{ port: 1, redirectToHttps: yes-please }]')).toContain('must be true, false or the https port');
    expect(problemOf('proxy: { encodedSlashes: decode }')).toContain('encodedSlashes');
  });

  it('parses client certificates on listeners and towards upstreams', () => {
    const c = parse(`
listeners:
  - port: 8443
    tls:
      cert: a.pem
      key: a.key
      clientCertificate: { ca: clients.pem, subjectAltNames: ["URI:spiffe://example.org/web", "IP:10.0.0.5"], commonNames: [ops] }
services:
  api: { tls: { ca: ca.pem, cert: client.pem, key: client.key } }
`);
    expect(c.listeners[0]!.tls!.clientCertificate).toEqual({ ca: 'clients.pem', subjectAltNames: ['URI:spiffe://example.org/web', 'IP:10.0.0.5'], commonNames: ['ops'] });
    expect(parse('listeners: [{ port: 1, tls: { cert: a.pem, key: a.key, clientCertificate: { ca: c.pem } } }]').listeners[0]!.tls!.clientCertificate).toEqual({ ca: 'c.pem', subjectAltNames: [], commonNames: [] });
    expect(c.services.api!.tls).toMatchObject({ cert: 'client.pem', key: 'client.key' });
  });

  it('names what is wrong in client certificate settings', () => {
    expect(problemOf('listeners: [{ port: 1, tls: { cert: a.pem, key: a.key, clientCertificate: {} } }]')).toMatch(/listeners\[0\]\.tls\.clientCertificate\.ca.*is required/);
    expect(problemOf('listeners: [{ port: 1, tls: { cert: a.pem, key: a.key, clientCertificate: { ca: c.pem, subjectAltNames: [web.internal] } } }]')).toMatch(
      /subjectAltNames\[0\].*must be a subjectAltName entry such as "DNS:client.internal"/,
    );
    expect(problemOf('listeners: [{ port: 1, tls: { cert: a.pem, key: a.key, clientCertificate: { ca: c.pem, commonNames: [""] } } }]')).toMatch(/commonNames\[0\].*non-empty subject common name/);
    expect(problemOf('services: { api: { tls: { cert: client.pem } } }')).toMatch(/services\.api\.tls.*cert and key must be given together/);
    expect(problemOf('services: { api: { tls: { key: "" } } }')).toMatch(/services\.api\.tls\.key.*must be the path of a PEM private key file/);
  });

  it('accepts the old upstream spelling servername, and refuses it beside serverName', () => {
    expect(parse('services: { api: { tls: { servername: API.internal } } }').services.api!.tls).toMatchObject({ servername: 'api.internal' });
    expect(problemOf('services: { api: { tls: { servername: a.internal, serverName: b.internal } } }')).toMatch(/services\.api\.tls\.servername.*give serverName only/);
    expect(problemOf('registry: { type: consul, tls: { insecureSkipVerify: true, verify: true } }')).toMatch(/registry\.tls\.insecureSkipVerify.*give verify only/);
  });
});
