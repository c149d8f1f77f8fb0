/**
 * The reference strategy for the Consul fleet benchmark, modelled on fabio's
 * registry/consul/service.go (github.com/fabiolb/fabio): one blocking query on
 * /v1/health/state/any (consistent reads); after each change, the services with passing
 * checks are determined from that answer and /v1/catalog/service/<name> is read for every one
 * of them, `serviceMonitors` at a time (fabio's registry.consul.serviceMonitors, default 1),
 * before the next blocking query. The result (passing instance IDs per service) stands for
 * fabio's route table.
 */
import { Pool } from 'undici';

interface Check {
  Node: string;
  CheckID: string;
  Status: string;
  ServiceID: string;
  ServiceName: string;
}

export class FabioModel {
  private readonly pool: Pool;
  private stopped = false;
  private running: Promise<void> | null = null;
  requests = 0;
  bytes = 0;
  /** Service name → passing instance keys ("node/serviceID"), after the last full round. */
  table = new Map<string, Set<string>>();
  private readonly listeners = new Set<() => void>();

  constructor(
    origin: string,
    private readonly serviceMonitors = 1,
    private readonly waitMs = 60_000,
  ) {
    this.pool = new Pool(origin, { connections: serviceMonitors + 1 });
  }

  onTable(listener: () => void): void {
    this.listeners.add(listener);
  }

  /** Resolves after the first full round. */
  async start(): Promise<void> {
    let first!: () => void;
    const ready = new Promise<void>((r) => (first = r));
    this.running = this.loop(first);
    await ready;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.pool.destroy().catch(() => undefined);
    await this.running?.catch(() => undefined);
  }

  private async get(path: string): Promise<{ index: number; body: unknown }> {
    this.requests += 1;
    const res = await this.pool.request({ method: 'GET', path, headersTimeout: this.waitMs * 2, bodyTimeout: this.waitMs * 2 });
    const text = await res.body.text();
    this.bytes += Buffer.byteLength(text);
    return { index: Number(res.headers['x-consul-index'] ?? 0), body: JSON.parse(text) as unknown };
  }

  private async loop(ready: () => void): Promise<void> {
    let index = 0;
    while (!this.stopped) {
      let checks: Check[];
      try {
        const res = await this.get(index > 0 ? `/v1/health/state/any?consistent&index=${index}&wait=${this.waitMs}ms` : '/v1/health/state/any?consistent');
        if (res.index === index) continue;
        index = res.index;
        checks = res.body as Check[];
      } catch {
        if (this.stopped) return;
        await new Promise((r) => setTimeout(r, 1_000));
        continue;
      }
      // passing.go: an instance is in when all its checks, node checks included, pass.
      const failingNodes = new Set(checks.filter((c) => c.ServiceID === '' && c.Status !== 'passing').map((c) => c.Node));
      const failing = new Set(checks.filter((c) => c.ServiceID !== '' && c.Status !== 'passing').map((c) => `${c.Node}/${c.ServiceID}`));
      const passing = new Map<string, Set<string>>();
      for (const c of checks) {
        if (!c.ServiceName || failingNodes.has(c.Node)) continue;
        const key = `${c.Node}/${c.ServiceID}`;
        if (failing.has(key)) continue;
        let set = passing.get(c.ServiceName);
        if (!set) passing.set(c.ServiceName, (set = new Set()));
        set.add(key);
      }
      const names = [...passing.keys()];
      const next = new Map<string, Set<string>>();
      const worker = async () => {
        for (let name = names.shift(); name !== undefined; name = names.shift()) {
          const res = await this.get(`/v1/catalog/service/${encodeURIComponent(name)}?consistent`);
          const ok = passing.get(name)!;
          const instances = new Set((res.body as { Node: string; ServiceID: string }[]).map((e) => `${e.Node}/${e.ServiceID}`).filter((k) => ok.has(k)));
          next.set(name, instances);
        }
      };
      try {
        await Promise.all(Array.from({ length: this.serviceMonitors }, worker));
      } catch {
        if (this.stopped) return;
        continue;
      }
      this.table = next;
      ready();
      for (const l of this.listeners) l();
    }
  }
}
