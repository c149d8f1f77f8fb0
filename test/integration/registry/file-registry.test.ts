import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

describe('file registry', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    proxy = await startProxy({ services: { web: [{ port: a.port }] }, config: { routes: [{ name: 'web', match: { path: '/' }, service: 'web' }] } });
  });
  afterAll(async () => {
    await proxy.close();
    await a.close();
    await b.close();
  });

  const instancesSeen = async (n: number) => {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) seen.add((await fetchJson<EchoReply>(`${proxy.url}/`)).json.instance);
    return seen;
  };

  it('applies an edit of the services file without restart', async () => {
    expect(await instancesSeen(4)).toEqual(new Set(['a']));
    await proxy.writeServices({ web: [{ port: a.port }, { port: b.port }] });
    await eventually(async () => (await instancesSeen(4)).size === 2, 5_000, 'both instances to receive traffic');
    await proxy.writeServices({ web: [{ port: b.port }] });
    await eventually(async () => {
      const seen = await instancesSeen(4);
      return seen.size === 1 && seen.has('b');
    }, 5_000, 'only b to receive traffic');
  });

  it('keeps the previous services when an edit is broken, logs the exact error, and recovers', async () => {
    await writeFile(proxy.servicesFile, 'services:\n  web:\n    instances:\n      - address: 127.0.0.1\n        port: not-a-port\n');
    await eventually(() => proxy.log.find('services file rejected').length > 0, 5_000, 'the rejection to be logged');
    const line = proxy.log.find('services file rejected')[0]!;
    expect(String(line.error)).toMatch(/services\.yaml:5:15: services\.web\.instances\[0\]\.port: must be a number \(got string "not-a-port"\)/);
    expect(proxy.app.registryStatus.lastError).toMatch(/must be a number/);
    // Still serving the last good set (b only).
    expect(await instancesSeen(3)).toEqual(new Set(['b']));
    await proxy.writeServices({ web: [{ port: a.port }] });
    await eventually(async () => (await instancesSeen(2)).has('a'), 5_000, 'recovery to a');
    expect(proxy.app.registryStatus.lastError).toBeNull();
  });

  it('answers 503 once the service has no instances and serves again when they return', async () => {
    await proxy.writeServices({ web: [] });
    await eventually(async () => (await fetchText(`${proxy.url}/`)).status === 503, 5_000, '503 for an empty service');
    await proxy.writeServices({ web: [{ port: a.port, weight: 1 }] });
    await eventually(async () => (await fetchText(`${proxy.url}/`)).status === 200, 5_000, '200 again');
  });
});
