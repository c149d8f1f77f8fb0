/**
 * The IPC messages between the cluster-mode primary and its workers (node:cluster's channel).
 * prom-client's own metrics request/response messages share the channel; these are told apart
 * by their `type` prefix.
 */

/** Primary → worker. */
export type PrimaryMessage =
  /** Reload the configuration file (the primary received SIGHUP). */
  | { type: 'switchyard:reload' }
  /**
   * Fail readiness, serve for shutdown.drainDelay, stop accepting, finish in-flight requests
   * (shutdown.gracePeriod), exit 0. A second one skips the rest of the drain delay.
   */
  | { type: 'switchyard:shutdown' };

/** Worker → primary. */
export type WorkerMessage =
  /** The worker serves: listeners bound; `adminPort` is its own admin listener on 127.0.0.1 (null when admin is disabled). */
  { type: 'switchyard:ready'; adminPort: number | null };

function hasType(message: unknown): message is { type: unknown } {
  return typeof message === 'object' && message !== null && 'type' in message;
}

export function isPrimaryMessage(message: unknown): message is PrimaryMessage {
  return hasType(message) && (message.type === 'switchyard:reload' || message.type === 'switchyard:shutdown');
}

export function isWorkerMessage(message: unknown): message is WorkerMessage {
  return hasType(message) && message.type === 'switchyard:ready';
}
