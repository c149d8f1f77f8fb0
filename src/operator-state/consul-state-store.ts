import { z } from 'zod';
import type { ConsulRegistryConfig } from '../config/schema.js';
import { BlockingWatch } from '../registry/consul/blocking-watch.js';
import { ConsulClient } from '../registry/consul/consul-client.js';
import { resolveConsulConnection } from '../registry/consul/consul-settings.js';
import { EMPTY_OPERATOR_STATE, decodeOperatorState, encodeOperatorState, type OperatorState } from './operator-state.js';
import type { OperatorStateStore } from './operator-state-store.js';

/** GET /v1/kv/<key>: the entries under the key (one for an exact key); Value is base64 or null. */
const kvEntriesSchema = z.array(z.object({ Key: z.string(), Value: z.string().nullable(), ModifyIndex: z.number() }));

/**
 * Operator state in Consul's KV store under `registry.stateKey`, as fabio keeps its manual
 * overrides in `fabio/config`: every router reading the same key gets the same drains and
 * overrides, and a restarted router reads them back before it serves. A blocking query on the
 * key (BlockingWatch: index rules, rate limit, backoff) reports states written by other routers
 * or by `consul kv put`.
 */
export class ConsulStateStore implements OperatorStateStore {
  readonly kind = 'consul';
  private client: ConsulClient | null = null;
  private watcher: BlockingWatch<typeof kvEntriesSchema> | null = null;
  /** X-Consul-Index of the load, where the watch starts. */
  private loadedIndex = 0;
  location: string;

  constructor(
    private readonly config: ConsulRegistryConfig,
    private readonly configFile: string,
  ) {
    this.location = `consul key ${config.stateKey}`;
  }

  private get path(): string {
    return `/v1/kv/${this.config.stateKey.split('/').map(encodeURIComponent).join('/')}`;
  }

  private async connect(): Promise<ConsulClient> {
    if (this.client === null) {
      const connection = await resolveConsulConnection(this.config, this.configFile);
      this.client = new ConsulClient(connection);
      this.location = `${connection.origin} key ${this.config.stateKey}`;
    }
    return this.client;
  }

  async load(): Promise<OperatorState> {
    const client = await this.connect();
    const res = await client.read(this.path, [], kvEntriesSchema, { notFoundIsEmpty: true });
    this.loadedIndex = res.index ?? 0;
    return this.decode(res.body);
  }

  async save(state: OperatorState): Promise<void> {
    const client = await this.connect();
    await client.put(this.path, encodeOperatorState(state));
  }

  /** Reads the key: Consul reachable and the key readable (a KV write cannot be tried without storing). */
  async probe(): Promise<void> {
    const client = await this.connect();
    await client.read(this.path, [], kvEntriesSchema, { notFoundIsEmpty: true });
  }

  watch(listener: (state: OperatorState) => void, onError: (err: Error) => void): void {
    if (this.client === null || this.watcher !== null) return;
    const c = this.config;
    this.watcher = new BlockingWatch(
      this.client,
      { path: this.path, query: [], schema: kvEntriesSchema, waitMs: c.wait, minIntervalMs: c.minInterval, backoff: { initialMs: c.backoff.initial, maxMs: c.backoff.max }, notFoundIsEmpty: true },
      {
        onResult: (entries) => {
          let state: OperatorState;
          try {
            state = this.decode(entries);
          } catch (err) {
            onError(err as Error);
            return;
          }
          listener(state);
        },
        onError,
        onSuccess: () => undefined,
        onIndexReset: () => undefined,
      },
    );
    this.watcher.start(this.loadedIndex);
  }

  async close(): Promise<void> {
    await this.watcher?.stop();
    await this.client?.close();
  }

  private decode(entries: z.output<typeof kvEntriesSchema>): OperatorState {
    const entry = entries.find((e) => e.Key === this.config.stateKey);
    if (entry === undefined || entry.Value === null || entry.Value === '') return EMPTY_OPERATOR_STATE;
    return decodeOperatorState(Buffer.from(entry.Value, 'base64').toString('utf8'), this.location);
  }
}
