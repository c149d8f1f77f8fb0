/**
 * Child process for the Consul fleet benchmark: one Consul emulator, driven over IPC, so the
 * CPU it spends serving the fleet is not counted as the proxies' CPU.
 * Commands: setup {services, instances, warm} → {address}; flip {service, instance, status};
 * busy {...BusyDatacenterOptions}; stats → {requests, bytes, cpuMs}; flipLog → the flips since the
 * last flipLog, each with when it was received and when the emulator had answered the blocking
 * readers it woke (epoch ms, sub-millisecond: performance.timeOrigin + performance.now());
 * register {registration}, deregister {serviceId}, check {serviceId, status} (the instance's
 * check `service:<id>`), as an agent would apply them; close.
 */
import { ConsulEmulator, type BusyDatacenterOptions, type CheckStatus, type ServiceRegistration } from '../../test/support/consul-emulator.js';

type Command =
  | { id: number; cmd: 'setup'; services: number; instances: number; warm?: boolean }
  | { id: number; cmd: 'flip'; service: number; instance: number; status: CheckStatus }
  | { id: number; cmd: 'busy'; options: BusyDatacenterOptions | null }
  | { id: number; cmd: 'stats' }
  | { id: number; cmd: 'flipLog' }
  | { id: number; cmd: 'register'; registration: ServiceRegistration }
  | { id: number; cmd: 'deregister'; serviceId: string }
  | { id: number; cmd: 'check'; serviceId: string; status: CheckStatus }
  | { id: number; cmd: 'close' };

let consul: ConsulEmulator | null = null;

/** One check change as the emulator saw it: received, and the woken readers answered (the next turn of its loop). */
interface FlipRecord {
  service: number;
  instance: number;
  receivedAt: number;
  answeredAt: number;
}
let flips: FlipRecord[] = [];
const epochNow = () => performance.timeOrigin + performance.now();

process.on('message', (message: Command) => {
  void handle(message).then(
    (result) => process.send!({ id: message.id, result }),
    (err: unknown) => process.send!({ id: message.id, error: (err as Error).message }),
  );
});

async function handle(m: Command): Promise<unknown> {
  switch (m.cmd) {
    case 'setup': {
      consul = await ConsulEmulator.start({ runChecks: false });
      consul.recordRequests = false;
      for (let s = 0; s < m.services; s++) {
        for (let i = 0; i < m.instances; i++) {
          consul.register({ Name: `svc-${s}`, ID: `svc-${s}-${i}`, Address: '127.0.0.1', Port: 20_000 + i, Tags: [`urlprefix-/svc-${s}`], Check: { TTL: '87600h', Status: 'passing' } });
        }
      }
      if (m.warm) await warmUp(consul, m.services);
      return { address: consul.address };
    }
    case 'flip': {
      const record: FlipRecord = { service: m.service, instance: m.instance, receivedAt: epochNow(), answeredAt: NaN };
      consul!.setCheckStatus(`service:svc-${m.service}-${m.instance}`, m.status);
      // Woken blocking queries answer in promise continuations of this turn: done by the next one.
      setImmediate(() => (record.answeredAt = epochNow()));
      if (flips.length < 10_000) flips.push(record);
      return null;
    }
    case 'register':
      consul!.register(m.registration);
      return null;
    case 'deregister':
      consul!.deregister(m.serviceId);
      return null;
    case 'check':
      consul!.setCheckStatus(`service:${m.serviceId}`, m.status);
      return null;
    case 'flipLog': {
      const out = flips;
      flips = [];
      return out;
    }
    case 'busy':
      if (m.options) consul!.startBusy(m.options);
      else consul!.stopBusy();
      return null;
    case 'stats': {
      const cpu = process.cpuUsage();
      return { requests: consul!.requestCount, bytes: consul!.bytesSent, cpuMs: (cpu.user + cpu.system) / 1000 };
    }
    case 'close':
      await consul?.close();
      setImmediate(() => process.exit(0));
      return null;
  }
}

/**
 * Reads every service once over HTTP, as the router's start-up will, before anything is
 * measured: the emulator's own code is then compiled (JIT) as a long-running Consul server's
 * is, so the first router's start-up does not also pay for warming the emulator up (on two
 * cores, that competed with the router for CPU).
 */
async function warmUp(consul: ConsulEmulator, services: number): Promise<void> {
  const { Pool } = await import('undici');
  const pool = new Pool(`http://${consul.address}`, { connections: 6 });
  const read = async (path: string) => {
    const res = await pool.request({ method: 'GET', path });
    await res.body.text();
  };
  await Promise.all([read('/v1/catalog/services'), read('/v1/health/state/any'), read('/v1/health/state/any?filter=Status%20!%3D%20%22passing%22')]);
  let next = 0;
  await Promise.all(Array.from({ length: 6 }, async () => {
    while (next < services) await read(`/v1/health/service/svc-${next++}?stale=`);
  }));
  await pool.close();
  // Not counted as load: the bench reads these counters around what it measures.
  consul.requestCount = 0;
  consul.bytesSent = 0;
}
