import { afterEach, describe, expect, it } from 'vitest';
import { ConsulEmulator } from '../../support/consul-emulator.js';
import { fetchJson } from '../../support/http-client.js';
import { eventually } from '../../support/proxy-harness.js';
import { freePorts, runSidecarCli, TEST_APP, type SidecarProcess } from '../../support/sidecar-harness.js';

function agentOps(emulator: ConsulEmulator): string[] {
  return emulator.calls.filter((c) => c.op !== 'check').map((c) => c.op);
}

describe('switchyard sidecar (process)', () => {
  let emulator: ConsulEmulator | null = null;
  let proc: SidecarProcess | null = null;
  afterEach(async () => {
    if (proc && proc.child.exitCode === null) {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
    await emulator?.close();
    proc = null;
    emulator = null;
  });

  it('SIGTERM: maintenance, then drain (the in-flight request completes), then deregistration, then the app stops; exit 0', async () => {
    emulator = await ConsulEmulator.start();
    const [port, appPort] = await freePorts(2);
    proc = runSidecarCli([
      '--service', 'orders', '--port', String(port), '--app-port', String(appPort), '--address', '127.0.0.1',
      '--consul', emulator.address, '--id', 'orders-1', '--drain-delay', '0', '--health-interval', '50ms',
      '--', process.execPath, TEST_APP,
    ]);
    await eventually(async () => (await fetchJson<unknown[]>(`${emulator!.url}/v1/health/service/orders?passing=true`)).json.length === 1, 20_000, 'orders passing in Consul');

    const inFlight = fetchJson<{ released: string }>(`http://127.0.0.1:${port}/slow?id=inflight`);
    await eventually(async () => (await fetchJson<{ held: number }>(`http://127.0.0.1:${appPort}/held`)).json.held === 1, 10_000, 'request held by the app');

    proc.child.kill('SIGTERM');
    await eventually(() => agentOps(emulator!).includes('maintenance'), 10_000, 'maintenance call');
    await eventually(() => proc!.find('draining in-flight requests').length === 1, 10_000, 'draining');
    // The drain waits for the held request: no deregistration yet, the app still runs.
    expect(agentOps(emulator), proc.lines.map((l) => l.msg).join(' | ')).toEqual(['register', 'maintenance']);
    const maintenance = emulator.calls.find((c) => c.op === 'maintenance')!;
    expect(maintenance.id).toBe('orders-1');
    expect(maintenance.detail).toEqual({ enable: true, reason: 'switchyard sidecar shutting down: received SIGTERM' });
    expect((await fetchJson<{ held: number }>(`http://127.0.0.1:${appPort}/held`)).json.held).toBe(1);

    await fetchJson(`http://127.0.0.1:${appPort}/release?id=inflight`);
    const done = await inFlight;
    expect(done.status).toBe(200);
    expect(done.json.released).toBe('inflight');

    expect(await proc.exited).toBe(0);
    expect(agentOps(emulator)).toEqual(['register', 'maintenance', 'deregister']);
    const steps = ['consul: maintenance mode on', 'draining in-flight requests', 'drained', 'consul: deregistered', 'instance 0 received SIGTERM'];
    const order = steps.map((msg) => proc!.lines.findIndex((l) => l.msg === msg));
    const trail = proc.lines.map((l) => `${String(l.time).slice(17)} ${String(l.component ?? '')} ${String(l.pid)} ${String(l.msg)}`).join(' | ');
    expect(order.every((i) => i >= 0), trail).toBe(true);
    expect([...order].sort((a, b) => a - b), trail).toEqual(order);
    expect(proc.find('app instance stopped'), trail).toHaveLength(1);
    expect(proc.find('sidecar stopped'), trail).toHaveLength(1);
    // The app process is gone.
    const appPid = proc.find('app instance started')[0]!.pid as number;
    expect(() => process.kill(appPid, 0)).toThrow(/ESRCH/);
  });

  it('crash loop: gives up after the limit with a clear log, deregisters and exits non-zero', async () => {
    emulator = await ConsulEmulator.start();
    const [port, appPort] = await freePorts(2);
    proc = runSidecarCli(
      [
        '--service', 'orders', '--port', String(port), '--app-port', String(appPort), '--address', '127.0.0.1', '--consul', emulator.address,
        '--crash-loop-restarts', '3', '--crash-loop-window', '1m', '--initial-backoff', '10ms', '--drain-delay', '0',
        '--', process.execPath, TEST_APP,
      ],
      { CRASH_ON_START: '1' },
    );
    expect(await proc.exited).toBe(1);
    expect(proc.find('app instance started')).toHaveLength(4);
    expect(proc.find('restarting after backoff').map((l) => l.restartInMs)).toEqual([10, 20, 40]);
    const giveUp = proc.find('crash loop')[0]!;
    expect(giveUp).toMatchObject({ level: 'error', instance: 0, code: 3, restarts: 3 });
    expect(String(giveUp.msg)).toBe('app instance 0 exited 3 times within 60000 ms (crash loop); not restarting it: fix the app (its last output is logged above) or raise app.restart.crashLoopRestarts');
    expect(proc.find('instance 0: crashing on start as asked')).toHaveLength(4);
    expect(agentOps(emulator)).toEqual(['register', 'maintenance', 'deregister']);
  });

  it('rejects bad flags naming the flag, exit 2', async () => {
    proc = runSidecarCli(['--service', 'orders', '--port', 'eighty', '--app-port', '3000', '--', 'node', 'app.js']);
    expect(await proc.exited).toBe(2);
    expect(proc.stderr()).toContain('switchyard sidecar: --port: ');
    proc = runSidecarCli(['--service', 'orders', '--port', '8081', '--app-port', '3000']);
    expect(await proc.exited).toBe(2);
    expect(proc.stderr()).toContain('the app command is missing: put it after "--"');
  });
});
