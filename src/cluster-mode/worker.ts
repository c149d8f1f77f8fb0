import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Switchyard } from '../main.js';
import { isPrimaryMessage, type WorkerMessage } from './worker-messages.js';

export interface WorkerControls {
  /** Same as SIGHUP in a single process. */
  reload(): void;
  /** Same as SIGTERM in a single process; `reason` goes to the log. */
  stop(reason: string): void;
}

/** Whether this process is a cluster-mode worker (forked by the primary). */
export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/**
 * Connects a started router in a worker to its primary: answers prom-client's metrics requests
 * from the router's registry (the primary aggregates them for /metrics), obeys reload and
 * shutdown messages, stops when the primary goes away, and reports that it serves.
 */
export function attachToPrimary(app: Switchyard, controls: WorkerControls): void {
  // Constructing it installs prom-client's worker-side listener for the primary's metric requests.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([app.metrics.registry]);
  process.on('message', (message: unknown) => {
    if (!isPrimaryMessage(message)) return;
    if (message.type === 'switchyard:reload') controls.reload();
    else controls.stop('primary asked to shut down');
  });
  // The primary died (or was killed): a worker without it would serve unsupervised.
  process.on('disconnect', () => controls.stop('primary disconnected'));
  const ready: WorkerMessage = { type: 'switchyard:ready', adminPort: app.adminAddress?.port ?? null };
  process.send!(ready);
}
