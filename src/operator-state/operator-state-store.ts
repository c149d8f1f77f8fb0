import type { OperatorState } from './operator-state.js';

/** Where operator state is kept between restarts: a state file, or a key in Consul's KV store. */
export interface OperatorStateStore {
  /** "file" or "consul". */
  readonly kind: string;
  /** The file path, or the Consul address and key. */
  readonly location: string;
  /**
   * The stored state; EMPTY_OPERATOR_STATE when nothing was stored yet. Throws
   * OperatorStateUnreadable for a corrupt document and other errors when the store cannot be
   * reached.
   */
  load(): Promise<OperatorState>;
  /** Stores `state`, replacing what was there. Resolves once it is durable. */
  save(state: OperatorState): Promise<void>;
  /**
   * Throws, as save would, when a save cannot succeed for a reason visible now (a state file's
   * folder missing or read-only; Consul unreachable); stores nothing. Start-up and
   * `switchyard check` call it.
   */
  probe(): Promise<void>;
  /**
   * Calls `listener` with each state stored by anyone (this router included) after start,
   * for stores that others can write to (Consul). `onError` gets unreadable or unreachable
   * states; the watch keeps going.
   */
  watch(listener: (state: OperatorState) => void, onError: (err: Error) => void): void;
  close(): Promise<void>;
}
