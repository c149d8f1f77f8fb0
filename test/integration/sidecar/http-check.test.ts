import { afterEach, describe, expect, it } from 'vitest';
import { ConsulEmulator, type HealthEntry } from '../../support/consul-emulator.js';
import { fetchJson } from '../../support/http-client.js';
import { eventually } from '../../support/proxy-harness.js';
import { startSidecar, type InProcessSidecar } from '../../support/sidecar-harness.js';


describe('sidecar: Consul HTTP check mode', () => {
  let emulator: ConsulEmulator | null = null;
  let sc: InProcessSidecar | null = null;
  afterEach(async () => {
    await sc?.close();
    await emulator?.close();
    sc = null;
    emulator = null;
  });

  it('registers an HTTP check of the inbound port, verifies the agent still knows it, and registers again when forgotten', async () => {
    emulator = await ConsulEmulator.start();
    sc = await startSidecar(emulator, { consul: { check: { type: 'http', interval: '100ms', timeout: '1s' }, syncInterval: '100ms' } });
    const id = `orders-test-host-${sc.port}`;
    const passing = async () => {
      const r = await fetchJson<HealthEntry[]>(`${emulator!.url}/v1/health/service/orders?passing=true`);
      return r.json.length === 1 && r.json[0]!.Service.ID === id;
    };

    const registration = emulator.calls.find((c) => c.op === 'register')!.detail as { Check: { HTTP: string; Interval: string } };
    expect(registration.Check.HTTP).toBe(`http://127.0.0.1:${sc.port}/health`);
    expect(registration.Check.Interval).toBe('100ms');
    // The agent's HTTP check goes through the sidecar's inbound port to the app.
    await eventually(passing, 10_000, 'orders passing through the HTTP check');

    // The sidecar's periodic look-up finds the instance: no re-registration, no agent errors.
    await eventually(() => emulator!.requestsTo(`/v1/agent/service/${id}`).length >= 3, 5_000, 'periodic agent look-ups');
    expect(emulator.calls.filter((c) => c.op === 'register')).toHaveLength(1);
    expect(sc.log.find('agent call failed')).toEqual([]);

    // The agent forgets the instance (e.g. restarted without its data): the next look-up gets 404
    // and the sidecar registers again.
    emulator.deregister(id);
    await eventually(() => emulator!.calls.filter((c) => c.op === 'register').length === 2, 5_000, 'registered again');
    // The log line follows the agent's answer to the register call.
    await eventually(() => sc!.log.find('the agent had forgotten this instance').length === 1, 5_000, 'the re-registration logged');
    await eventually(passing, 10_000, 'orders passing again');
  });
});
