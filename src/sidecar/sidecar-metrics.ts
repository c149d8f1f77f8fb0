import { Counter, Gauge, Registry } from 'prom-client';
import type { InstanceState } from './app-supervisor.js';
import type { CgroupLimits, CgroupUsage } from './instance-cgroup.js';

/**
 * The sidecar's own metrics, in a registry of its own. Everything is set when /metrics is
 * scraped, never on a request path: per-instance restarts and OOM kills from the
 * supervisor's counts, usage from each instance's cgroup. Names: `switchyard_sidecar_instance_*`.
 */
export class SidecarMetrics {
  readonly registry = new Registry();
  private readonly restarts: Counter<'instance'>;
  private readonly oomKills: Counter<'instance'>;
  private readonly memory: Gauge<'instance'>;
  private readonly memoryPeak: Gauge<'instance'>;
  private readonly memoryLimit: Gauge<'instance'>;
  private readonly cpu: Counter<'instance'>;
  private readonly throttled: Counter<'instance'>;
  private readonly cpuLimit: Gauge<'instance'>;
  private readonly pids: Gauge<'instance'>;
  private readonly pidsLimit: Gauge<'instance'>;

  constructor(instances: number) {
    const registers = [this.registry];
    const labelNames = ['instance'] as const;
    this.restarts = new Counter({ name: 'switchyard_sidecar_instance_restarts_total', help: 'Restarts of each app instance (any cause).', labelNames, registers });
    this.oomKills = new Counter({ name: 'switchyard_sidecar_instance_oom_kills_total', help: 'App instance processes killed by the kernel at their cgroup memory limit.', labelNames, registers });
    this.memory = new Gauge({ name: 'switchyard_sidecar_instance_memory_bytes', help: "Memory charged to the instance's cgroup.", labelNames, registers });
    this.memoryPeak = new Gauge({ name: 'switchyard_sidecar_instance_memory_peak_bytes', help: "Highest memory charged to the instance's cgroup since the sidecar started.", labelNames, registers });
    this.memoryLimit = new Gauge({ name: 'switchyard_sidecar_instance_memory_limit_bytes', help: "The instance's hard memory limit.", labelNames, registers });
    this.cpu = new Counter({ name: 'switchyard_sidecar_instance_cpu_seconds_total', help: 'CPU time used by the processes of the instance.', labelNames, registers });
    this.throttled = new Counter({ name: 'switchyard_sidecar_instance_cpu_throttled_seconds_total', help: 'Time the instance was held back by its CPU limit.', labelNames, registers });
    this.cpuLimit = new Gauge({ name: 'switchyard_sidecar_instance_cpu_limit_cpus', help: "The instance's CPU limit in CPUs.", labelNames, registers });
    this.pids = new Gauge({ name: 'switchyard_sidecar_instance_pids', help: 'Processes and threads in the instance.', labelNames, registers });
    this.pidsLimit = new Gauge({ name: 'switchyard_sidecar_instance_pids_limit', help: "The instance's process and thread limit.", labelNames, registers });
    // Every instance is listed from the start, so a counter at 0 is visible before its first event.
    for (let i = 0; i < instances; i++) {
      this.restarts.labels(String(i)).inc(0);
      this.oomKills.labels(String(i)).inc(0);
    }
  }

  /**
   * Sets one instance's figures: restarts and OOM kills from the supervisor, usage from its
   * group's counters (null without a group; counters a hierarchy lacks are left out).
   */
  update(state: InstanceState, usage: CgroupUsage | null, limits: CgroupLimits | null): void {
    const label = String(state.instance);
    setTotal(this.restarts, label, state.restarts);
    setTotal(this.oomKills, label, state.oomKills);
    if (usage === null || limits === null) return;
    setIf(this.memory, label, usage.memoryBytes);
    setIf(this.memoryPeak, label, usage.memoryPeakBytes);
    setIf(this.memoryLimit, label, usage.memoryLimitBytes);
    setIf(this.pids, label, usage.pids);
    setIf(this.cpuLimit, label, limits.cpuMax ?? null);
    setIf(this.pidsLimit, label, limits.pidsMax ?? null);
    // The kernel keeps these totals; the counter is set to them (reset + inc: prom-client has no set for counters).
    setTotal(this.cpu, label, usage.cpuSeconds);
    setTotal(this.throttled, label, usage.cpuThrottledSeconds);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

function setIf(gauge: Gauge<'instance'>, label: string, value: number | null): void {
  if (value !== null) gauge.labels(label).set(value);
}

function setTotal(counter: Counter<'instance'>, label: string, value: number | null): void {
  if (value === null) return;
  counter.remove(label);
  counter.labels(label).inc(value);
}
