import type { SidecarConfig } from '../config/sidecar-schema.js';
import type { Logger } from '../observability/logger.js';
import { AppProcess, type AppExit } from './app-process.js';
import { cgroupEntryCommand } from './cgroup-entry-command.js';
import type { CgroupUsage, InstanceCgroup } from './instance-cgroup.js';
import { RestartPolicy } from './restart-policy.js';

/** What the supervisor tells the rest of the sidecar. */
export interface SupervisorEvents {
  /** An instance process was spawned (first start or restart). */
  started(instance: number): void;
  /** An instance process exited (expectedly or not). */
  exited(instance: number, exit: AppExit): void;
  /** An instance hit the crash-loop limit; the supervisor restarts nothing any more. */
  gaveUp(instance: number, reason: string): void;
}

/** One instance as the supervisor sees it (for the sidecar's status). */
export interface InstanceState {
  instance: number;
  port: number;
  pid: number | null;
  running: boolean;
  /** Restarts since the sidecar started. */
  restarts: number;
  /** Exits recognised as kills at the memory limit. */
  oomKills: number;
  lastExit: { code: number | null; signal: string | null; oom: boolean; at: string } | null;
}

interface Slot {
  readonly instance: number;
  readonly port: number;
  readonly policy: RestartPolicy;
  process: AppProcess | null;
  restartTimer: NodeJS.Timeout | null;
  /** Why the current process is being stopped on purpose (a restart the sidecar asked for). */
  restartReason: string | null;
  /** The instance's cgroup (kept across restarts), when limits are set. */
  readonly group: InstanceCgroup | null;
  /** The group's oom_kill counter as last read: a rise at an exit means the kernel killed at the limit. */
  oomKillsSeen: number;
  restarts: number;
  oomKills: number;
  lastExit: InstanceState['lastExit'];
  /** Settles when the current process's exit has been handled (group inspected, restart decided). */
  exitHandled: Promise<void>;
}

/**
 * Keeps `instances` copies of the app running on consecutive ports: restarts an instance
 * that exits, with exponential backoff, and gives up when one crash-loops. Signals other than
 * the stop sequence are forwarded to every running instance.
 */
export class AppSupervisor {
  private readonly slots: Slot[];
  private stopping = false;
  private gaveUp = false;

  constructor(
    private readonly app: SidecarConfig['app'],
    private readonly logger: Logger,
    private readonly events: SupervisorEvents,
    private readonly baseEnv: NodeJS.ProcessEnv = process.env,
    /** Per instance, its cgroup; empty when no limits are set. */
    groups: readonly InstanceCgroup[] = [],
  ) {
    this.slots = Array.from({ length: app.instances }, (_, instance) => ({
      instance,
      port: app.port + instance,
      policy: new RestartPolicy(app.restart),
      process: null,
      restartTimer: null,
      restartReason: null,
      group: groups[instance] ?? null,
      oomKillsSeen: 0,
      restarts: 0,
      oomKills: 0,
      lastExit: null,
      exitHandled: Promise.resolve(),
    }));
  }

  /** Each instance's process state, in instance order. */
  states(): InstanceState[] {
    return this.slots.map((s) => ({
      instance: s.instance,
      port: s.port,
      pid: s.process?.pid ?? null,
      running: s.process?.running ?? false,
      restarts: s.restarts,
      oomKills: s.oomKills,
      lastExit: s.lastExit,
    }));
  }

  /** Instance ports, in instance order. */
  get ports(): number[] {
    return this.slots.map((s) => s.port);
  }

  pid(instance: number): number | undefined {
    return this.slots[instance]?.process?.pid;
  }

  start(): void {
    for (const slot of this.slots) this.spawn(slot);
  }

  /** Forwards a signal to every running instance. */
  forward(signal: NodeJS.Signals): void {
    for (const slot of this.slots) slot.process?.signal(signal);
    this.logger.info({ signal, instances: this.slots.length }, 'signal forwarded to the app');
  }

  /** Stops one instance gracefully and starts it again (counted by the crash-loop limit). */
  restart(instance: number, reason: string): void {
    const slot = this.slots[instance];
    if (!slot?.process?.running || this.stopping || slot.restartReason !== null) return;
    slot.restartReason = reason;
    this.logger.warn({ instance, pid: slot.process.pid, reason }, 'restarting app instance');
    void slot.process.stop();
  }

  /** Stops restarting and stops every instance (SIGTERM, grace, SIGKILL). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.slots.map(async (slot) => {
        if (slot.restartTimer) clearTimeout(slot.restartTimer);
        slot.restartTimer = null;
        const proc = slot.process;
        if (!proc?.running) return slot.exitHandled;
        const exit = await proc.stop();
        await slot.exitHandled;
        this.logger.info({ instance: slot.instance, pid: proc.pid, code: exit.code, signal: exit.signal }, 'app instance stopped');
      }),
    );
  }

  private spawn(slot: Slot): void {
    slot.restartTimer = null;
    if (this.stopping) return;
    const command = slot.group === null ? this.app.command : cgroupEntryCommand(slot.group.procsFiles, this.app.command);
    const proc = new AppProcess(
      { instance: slot.instance, command, env: this.envFor(slot), cwd: this.app.cwd, stopGraceMs: this.app.stopGrace },
      this.logger,
    );
    slot.process = proc;
    slot.restartReason = null;
    if (proc.pid !== undefined) {
      this.logger.info({ instance: slot.instance, pid: proc.pid, port: slot.port, command: this.app.command }, 'app instance started');
      this.events.started(slot.instance);
    }
    slot.exitHandled = proc.exited
      .then((exit) => this.inspectGroup(slot, proc, exit))
      .then(({ exit, oom }) => this.onExit(slot, proc, exit, oom))
      .catch((err: unknown) => this.logger.error({ err, instance: slot.instance }, 'handling the exit of an app instance failed; it is not restarted'));
  }

  /**
   * After an exit, with a cgroup: the kernel killed the instance at its memory limit when the
   * group's oom_kill counter rose and the app died of SIGKILL (what the OOM killer sends).
   * Processes the app left behind in its group are killed, so the next process starts with
   * the instance's whole budget.
   */
  private async inspectGroup(slot: Slot, proc: AppProcess, exit: AppExit): Promise<{ exit: AppExit; oom: boolean }> {
    const group = slot.group;
    if (group === null) return { exit, oom: false };
    let usage: CgroupUsage;
    try {
      usage = await group.usage();
    } catch (err) {
      // The restart must not depend on reading counters: without them the exit counts as a crash.
      this.logger.error({ err, instance: slot.instance, cgroup: group.paths[0] }, "cannot read the instance's cgroup counters; its exit is treated as a crash");
      return { exit, oom: false };
    }
    const kills = usage.oomKills ?? 0;
    const oom = kills > slot.oomKillsSeen && exit.signal === 'SIGKILL';
    slot.oomKillsSeen = kills;
    if (oom) {
      slot.oomKills++;
      this.logger.error(
        { instance: slot.instance, pid: proc.pid, limitBytes: usage.memoryLimitBytes, peakBytes: usage.memoryPeakBytes, usageBytes: usage.memoryBytes, oomKills: kills, cgroup: group.paths[0] },
        `app instance ${slot.instance} was killed by the kernel at its memory limit (OOM, ${formatMiB(usage.memoryLimitBytes)} MiB limit, peak ${formatMiB(usage.memoryPeakBytes)} MiB): raise app.limits.memoryMax or fix the leak`,
      );
    }
    if (!this.stopping) {
      try {
        const leftovers = await group.killAll();
        if (leftovers > 0) this.logger.warn({ instance: slot.instance, processes: leftovers, cgroup: group.paths[0] }, 'killed processes the app instance left in its cgroup');
      } catch (err) {
        this.logger.error({ err, instance: slot.instance, cgroup: group.paths[0] }, 'cannot kill what the app instance left in its cgroup; they keep using its limits');
      }
    }
    return { exit, oom };
  }

  private onExit(slot: Slot, proc: AppProcess, exit: AppExit, oom: boolean): void {
    if (slot.process !== proc) return;
    slot.lastExit = { code: exit.code, signal: exit.signal, oom, at: new Date().toISOString() };
    this.events.exited(slot.instance, exit);
    if (this.stopping || this.gaveUp) return;
    const requested = slot.restartReason ?? (oom ? 'killed at its memory limit (OOM)' : null);
    const decision = slot.policy.onExit(Date.now());
    if (!decision.restart) {
      this.gaveUp = true;
      const reason = `app instance ${slot.instance} exited ${decision.recentRestarts} times within ${this.app.restart.crashLoopWindow} ms (crash loop); not restarting it`;
      this.logger.error(
        { instance: slot.instance, code: exit.code, signal: exit.signal, restarts: decision.recentRestarts, windowMs: this.app.restart.crashLoopWindow, command: this.app.command },
        `${reason}: fix the app (its last output is logged above) or raise app.restart.crashLoopRestarts${oom ? ' (its last exit was an OOM kill: raise app.limits.memoryMax)' : ''}`,
      );
      this.events.gaveUp(slot.instance, reason);
      return;
    }
    this.logger.warn(
      { instance: slot.instance, pid: proc.pid, code: exit.code, signal: exit.signal, reason: requested ?? 'exited', restartInMs: decision.delayMs, recentRestarts: decision.recentRestarts },
      oom ? 'app instance killed at its memory limit; restarting after backoff' : requested ? 'app instance stopped for a restart' : 'app instance exited unexpectedly; restarting after backoff',
    );
    slot.restarts++;
    slot.restartTimer = setTimeout(() => this.spawn(slot), decision.delayMs);
  }

  private envFor(slot: Slot): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...this.baseEnv, ...this.app.env, [this.app.portEnv]: String(slot.port), SWITCHYARD_INSTANCE: String(slot.instance) };
    const maxOldSpace = this.app.memory.maxOldSpace;
    if (maxOldSpace !== undefined) {
      const mib = Math.max(1, Math.floor(maxOldSpace / (1024 * 1024)));
      env.NODE_OPTIONS = [env.NODE_OPTIONS, `--max-old-space-size=${mib}`].filter(Boolean).join(' ');
    }
    return env;
  }
}

function formatMiB(bytes: number | null): string {
  return bytes === null ? '?' : (bytes / 1048576).toFixed(1);
}
