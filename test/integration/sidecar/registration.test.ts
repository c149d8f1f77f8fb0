import { afterEach, describe, expect, it } from 'vitest';
import { ConsulEmulator, type HealthEntry } from '../../support/consul-emulator.js';
import { fetchJson } from '../../support/http-client.js';
import { eventually } from '../../support/proxy-harness.js';
import { startSidecar, type InProcessSidecar } from '../../support/sidecar-harness.js';


describe('sidecar: Consul registration', () => {
  let emulator: ConsulEmulator | null = null;
  let sc: InProcessSidecar | null = null;
  afterEach(async () => {
    await sc?.close();
    await emulator?.close();
    sc = null;
    emulator = null;
  });

  it('registers the documented payload, then turns the TTL check passing once the app is healthy', async () => {
    emulator = await ConsulEmulator.start();
    sc = await startSidecar(emulator, {
      consul: { tags: ['v2', 'urlprefix-/orders'], meta: { version: '1.4.0', team: 'a' }, weights: { passing: 3, warning: 1 }, check: { ttl: '5s', deregisterCriticalAfter: '1m' } },
      app: { instances: 2 },
    });
    const registers = emulator.calls.filter((c) => c.op === 'register');
    expect(registers).toHaveLength(1);
    expect(registers[0]!.detail).toEqual({
      ID: `orders-test-host-${sc.port}`,
      Name: 'orders',
      Tags: ['v2', 'urlprefix-/orders'],
      Address: '127.0.0.1',
      Port: sc.port,
      Meta: { version: '1.4.0', team: 'a' },
      Weights: { Passing: 3, Warning: 1 },
      Check: {
        CheckID: `service:orders-test-host-${sc.port}`,
        Name: 'Switchyard sidecar: orders app health',
        TTL: '5s',
        Notes: 'Updated by the Switchyard sidecar from its own health checks of the app.',
        DeregisterCriticalServiceAfter: '60s',
      },
    });
    expect(emulator.requestsTo('/v1/agent/service/register')[0]!.query.get('replace-existing-checks')).toBe('true');

    await eventually(async () => {
      const r = await fetchJson<HealthEntry[]>(`${emulator!.url}/v1/health/service/orders?passing=true`);
      return r.json.length === 1;
    }, 10_000, 'orders passing in Consul');
    const check = emulator.calls.filter((c) => c.op === 'check').at(-1)!;
    expect(check.id).toBe(`service:orders-test-host-${sc.port}`);
    expect((check.detail as { status: string; output: string }).status).toBe('passing');
    expect((check.detail as { output: string }).output).toContain('2/2 app instance(s) healthy');

    // Inbound proxies to both app instances, alternating; each got its port in $PORT.
    const seen = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const r = await fetchJson<{ port: number }>(`${sc.url}/hello`);
      expect(r.status).toBe(200);
      seen.add(r.json.port);
    }
    expect([...seen].sort()).toEqual([...sc.appPorts].sort());
  });

  it('registers again when the agent forgets the instance (404 on the TTL update)', async () => {
    emulator = await ConsulEmulator.start();
    sc = await startSidecar(emulator, { consul: { check: { ttl: '300ms' } } });
    const id = sc.sidecar.serviceId!;
    await eventually(() => emulator!.calls.some((c) => c.op === 'check' && (c.detail as { status: string }).status === 'passing'), 10_000, 'check passing');
    emulator.deregister(id);
    await eventually(() => emulator!.calls.filter((c) => c.op === 'register').length === 2, 10_000, 'second registration');
    // The line is logged once the registration call has returned, a moment after the agent saw it.
    await eventually(() => sc!.log.find('the agent had forgotten this instance').length > 0, 10_000, 'log line of the re-registration');
    expect(sc.log.find('the agent had forgotten this instance').length).toBeGreaterThan(0);
    await eventually(async () => (await fetchJson<HealthEntry[]>(`${emulator!.url}/v1/health/service/orders?passing=true`)).json.length === 1, 10_000, 'passing again');
  });

  it('keeps serving and registers once an unreachable agent comes back', async () => {
    emulator = await ConsulEmulator.start();
    await emulator.stop();
    sc = await startSidecar(emulator, { consul: { check: { ttl: '300ms' } } });
    await eventually(async () => (await fetchJson(`${sc!.url}/hello`)).status === 200, 10_000, 'app reachable through the sidecar');
    expect(sc.log.find('consul: agent call failed; retrying').length).toBeGreaterThan(0);
    await emulator.listen();
    await eventually(() => emulator!.calls.some((c) => c.op === 'register'), 10_000, 'registration after the agent is back');
    await eventually(async () => (await fetchJson<HealthEntry[]>(`${emulator!.url}/v1/health/service/orders?passing=true`)).json.length === 1, 10_000, 'passing');
  });

  it('sends the ACL token in X-Consul-Token (an agent enforcing ACLs accepts the registration)', async () => {
    emulator = await ConsulEmulator.start({ acl: { 'secret-1': { serviceRead: '*', write: true } } });
    sc = await startSidecar(emulator, { consul: { token: 'secret-1' } });
    expect(emulator.calls.filter((c) => c.op === 'register')).toHaveLength(1);
  });

  it("logs the agent's refusal when the token is wrong, and keeps serving", async () => {
    emulator = await ConsulEmulator.start({ acl: { 'secret-1': { serviceRead: '*', write: true } } });
    sc = await startSidecar(emulator, { consul: { token: 'wrong' } });
    expect(emulator.calls.filter((c) => c.op === 'register')).toHaveLength(0);
    const failure = sc.log.find('consul: agent call failed; retrying')[0]!;
    expect(String(failure.error)).toContain('HTTP 403: ACL not found');
    await eventually(async () => (await fetchJson(`${sc!.url}/hello`)).status === 200, 10_000, 'app reachable through the sidecar');
  });
});
