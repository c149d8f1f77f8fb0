import type { SidecarConfig } from '../config/sidecar-schema.js';
import type { Logger } from '../observability/logger.js';
import { AppProcess, type AppExit } from './app-process.js';
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

interface Slot {
  readonly instance: number;
  readonly port: number;
  readonly policy: RestartPolicy;
  process: AppProcess | null;
  restartTimer: NodeJS.Timeout | null;
  /** Why the current process is being stopped on purpose (a restart the sidecar asked for). */
  restartReason: string | null;
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
  ) {
    this.slots = Array.from({ length: app.instances }, (_, instance) => ({
      instance,
      port: app.port + instance,
      policy: new RestartPolicy(app.restart),
      process: null,
      restartTimer: null,
      restartReason: null,
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
        if (!proc?.running) return;
        const exit = await proc.stop();
        this.logger.info({ instance: slot.instance, pid: proc.pid, code: exit.code, signal: exit.signal }, 'app instance stopped');
      }),
    );
  }

  private spawn(slot: Slot): void {
    slot.restartTimer = null;
    if (this.stopping) return;
    const proc = new AppProcess(
      { instance: slot.instance, command: this.app.command, env: this.envFor(slot), cwd: this.app.cwd, stopGraceMs: this.app.stopGrace },
      this.logger,
    );
    slot.process = proc;
    slot.restartReason = null;
    if (proc.pid !== undefined) {
      this.logger.info({ instance: slot.instance, pid: proc.pid, port: slot.port, command: this.app.command }, 'app instance started');
      this.events.started(slot.instance);
    }
    void proc.exited.then((exit) => this.onExit(slot, proc, exit));
  }

  private onExit(slot: Slot, proc: AppProcess, exit: AppExit): void {
    if (slot.process !== proc) return;
    this.events.exited(slot.instance, exit);
    if (this.stopping || this.gaveUp) return;
    const requested = slot.restartReason;
    const decision = slot.policy.onExit(Date.now());
    if (!decision.restart) {
      this.gaveUp = true;
      const reason = `app instance ${slot.instance} exited ${decision.recentRestarts} times within ${this.app.restart.crashLoopWindow} ms (crash loop); not restarting it`;
      this.logger.error(
        { instance: slot.instance, code: exit.code, signal: exit.signal, restarts: decision.recentRestarts, windowMs: this.app.restart.crashLoopWindow, command: this.app.command },
        `${reason}: fix the app (its last output is logged above) or raise app.restart.crashLoopRestarts`,
      );
      this.events.gaveUp(slot.instance, reason);
      return;
    }
    this.logger.warn(
      { instance: slot.instance, pid: proc.pid, code: exit.code, signal: exit.signal, reason: requested ?? 'exited', restartInMs: decision.delayMs, recentRestarts: decision.recentRestarts },
      requested ? 'app instance stopped for a restart' : 'app instance exited unexpectedly; restarting after backoff',
    );
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
