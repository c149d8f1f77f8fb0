import { createServer as createHttpsServer } from 'node:https';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { ConnectCA, type LeafCertificate } from './connect-ca.js';

/**
 * A Consul HTTP API (v1) emulator: a real node:http server on 127.0.0.1 that behaves like a
 * one-datacenter Consul agent for the endpoints Switchyard uses (catalog, health, agent,
 * status), with blocking queries, ACL tokens and fault controls for tests.
 *
 * Index model (as in Consul's state store): one raft index grows with every write; each
 * table (nodes, services, checks) remembers the raft index of its last change, and each
 * service name has its own index. /v1/catalog/services answers with the services-table
 * index, /v1/health/state/any with the checks-table index, /v1/health/service/<name> and
 * /v1/catalog/service/<name> with that service's index. A blocking query (`?index=N&wait=D`)
 * is held while the endpoint's index is <= N, up to D plus up to D/16 of jitter, like Consul's
 * blockingQuery. A returned index is never below 1.
 *
 * KV store (GET/PUT/DELETE /v1/kv/<key>, exact keys): each write takes the next raft index as
 * the key's ModifyIndex. A read of an existing key answers with that ModifyIndex, a read of a
 * missing key answers 404 (empty body) with the KV table's index; both can block (`?index`).
 * `?raw` returns the value itself. PUT stores the raw body and answers `true`; with ACLs on it
 * needs a token with `write`.
 *
 * Connect (service mesh): a real CA in process (connect-ca.ts). GET /v1/agent/connect/ca/roots
 * and GET /v1/agent/connect/ca/leaf/<service> are blocking-capable (the roots move with
 * `rotateRoots()`, a leaf with `rotateLeaf()` or a root rotation); POST
 * /v1/agent/connect/authorize evaluates the intentions set with `setIntention()` (exact source
 * first, then "*", then the default, `allow` as Consul's without ACLs); GET
 * /v1/health/connect/<service> lists the service's connect-proxy registrations
 * (Proxy.DestinationServiceName) and its Connect-native instances.
 */

export type CheckStatus = 'passing' | 'warning' | 'critical';

export interface ConsulNode {
  Node: string;
  Address: string;
  Datacenter: string;
  TaggedAddresses: Record<string, string>;
  Meta: Record<string, string>;
  ID: string;
}

interface ServiceRecord {
  node: string;
  ID: string;
  Service: string;
  Tags: string[];
  Address: string;
  Port: number;
  Meta: Record<string, string>;
  Weights: { Passing: number; Warning: number };
  EnableTagOverride: boolean;
  Kind: string;
  Proxy: ConnectProxyDefinition | null;
  Connect: { Native?: boolean } | null;
  CreateIndex: number;
  ModifyIndex: number;
}

/** The `Proxy` block of a connect-proxy registration (the fields the emulator reads). */
export interface ConnectProxyDefinition {
  DestinationServiceName: string;
  DestinationServiceID?: string;
  LocalServiceAddress?: string;
  LocalServicePort?: number;
  Upstreams?: { DestinationType?: string; DestinationName: string; LocalBindAddress?: string; LocalBindPort?: number }[];
}

/** An intention: may `source` (a service name or "*") open connections to `destination`? */
export interface Intention {
  source: string;
  destination: string;
  action: 'allow' | 'deny';
}

interface CheckRecord {
  Node: string;
  CheckID: string;
  Name: string;
  Status: CheckStatus;
  Notes: string;
  Output: string;
  ServiceID: string;
  ServiceName: string;
  ServiceTags: string[];
  Type: string;
  CreateIndex: number;
  ModifyIndex: number;
  /** Agent-side definition (not part of the catalog view). */
  definition: CheckDefinition;
  ttlExpiresAt: number | null;
  criticalSince: number | null;
  timer: NodeJS.Timeout | null;
}

/** A check as `PUT /v1/agent/service/register` accepts it (the subset the emulator runs). */
export interface CheckDefinition {
  CheckID?: string;
  Name?: string;
  HTTP?: string;
  TCP?: string;
  TTL?: string;
  Interval?: string;
  Timeout?: string;
  DeregisterCriticalServiceAfter?: string;
  Status?: CheckStatus;
  Notes?: string;
}

/** A service registration as `PUT /v1/agent/service/register` accepts it. */
export interface ServiceRegistration {
  ID?: string;
  Name: string;
  Tags?: string[];
  Address?: string;
  Port?: number;
  Meta?: Record<string, string>;
  Weights?: { Passing?: number; Warning?: number };
  EnableTagOverride?: boolean;
  Check?: CheckDefinition;
  Checks?: CheckDefinition[];
  /** "connect-proxy" for a sidecar proxy; absent for a typical service. */
  Kind?: string;
  Proxy?: ConnectProxyDefinition;
  Connect?: { Native?: boolean };
}

/** One request as the emulator received it. */
/** One entry of GET /v1/health/service/<name>, as tests read it. */
export interface HealthEntry {
  Node: { Node: string; Address: string };
  Service: { ID: string; Address: string; Port: number; Tags: string[]; Weights: { Passing: number; Warning: number } };
  Checks: { CheckID: string; Status: string; ServiceID: string }[];
}

export interface EmulatorRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  time: number;
}

/** One agent mutation (register, deregister, maintenance, check update), in call order. */
export interface AgentCall {
  op: 'register' | 'deregister' | 'maintenance' | 'check';
  /** Service ID or check ID. */
  id: string;
  time: number;
  /** register: the registration; maintenance: { enable, reason }; check: { status, output }. */
  detail: unknown;
}

/** A fault applied to every incoming request until cleared. */
export type Fault =
  | { kind: 'status'; status: number; body: string }
  | { kind: 'hang' }
  | { kind: 'destroy' }
  | { kind: 'garbage' };

export interface AclToken {
  /** Names of services the token may read, or "*" for all. */
  serviceRead: readonly string[] | '*';
  /** May call agent write endpoints. */
  write: boolean;
}

export interface ConsulEmulatorOptions {
  datacenter?: string;
  /** Name and address of the agent's own node (agent endpoints register here). */
  nodeName?: string;
  nodeAddress?: string;
  /** Run HTTP/TCP checks and TTL expiry like an agent (default true). */
  runChecks?: boolean;
  /** When set, ACLs are enforced: a request needs one of these tokens (by secret). */
  acl?: Record<string, AclToken>;
  /** Fixed port (default 0: ephemeral). */
  port?: number;
  /**
   * Serve HTTPS (Consul's https port) with this certificate; with `ca`, every client must
   * present a certificate it signs (Consul's tls.defaults.verify_incoming).
   */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
  /**
   * Answer every blocking-capable read indented, as Consul does for `?pretty` (which this
   * emulator also honours per request): for tests of clients that must not depend on compact JSON.
   */
  prettyAnswers?: boolean;
}

/**
 * A busy datacenter: writes to services the router does not care about move Consul's
 * indexes at a set rate, and checks of those services flap.
 */
export interface BusyDatacenterOptions {
  /** Unrelated services to create (one instance each, TTL check passing, tag `busy`). */
  services?: number;
  /** Re-registrations of an unrelated instance per second (its Meta changes, its tags do not): the catalog index moves. */
  writesPerSecond?: number;
  /** Check status changes (passing <-> critical) of unrelated instances per second: the health index moves. */
  flapsPerSecond?: number;
  /** Name prefix of the unrelated services (default "busy-"). */
  prefix?: string;
}

const MAX_WAIT_MS = 10 * 60_000;
const DEFAULT_WAIT_MS = 5 * 60_000;
const DURATION = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$/;
const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go duration such as "10s", "5m", "250ms" (Consul's format) into ms. */
export function parseGoDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  return m ? Number(m[1]) * DURATION_UNITS[m[2]!]! : undefined;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Waiter {
  wake(reset: boolean): void;
}

export class ConsulEmulator {
  readonly datacenter: string;
  readonly agentNode: string;
  private server: Server;
  private port = 0;
  private readonly sockets = new Set<Socket>();
  private readonly nodes = new Map<string, ConsulNode>();
  /** Key: node + "/" + service ID. */
  private readonly services = new Map<string, ServiceRecord>();
  /** Key: node + "/" + check ID. */
  private readonly checks = new Map<string, CheckRecord>();
  private raftIndex = 1;
  private readonly tableIndex = { nodes: 1, services: 1, checks: 1 };
  private readonly serviceIndex = new Map<string, number>();
  /** Service name → keys (node/ID) of its instances; node → its checks by check ID. */
  private readonly instancesByName = new Map<string, Set<string>>();
  private readonly checksByNode = new Map<string, Map<string, CheckRecord>>();
  /**
   * Checks by "node/serviceId" ("node/" for node checks), in the order of the node's checks, so
   * a /v1/health/service read costs the instances it returns (as in Consul, whose state store
   * indexes checks by service), not every check on the node.
   */
  private readonly checksByOwner = new Map<string, Map<string, CheckRecord>>();
  /** Position of each check key in its node's check order (to merge node and service checks as the node lists them). */
  private readonly checkSeq = new Map<string, number>();
  private nextCheckSeq = 0;
  /** Serialized answers by request and index (the emulator serves many identical reads in fleet benchmarks). */
  private readonly answers = new Map<string, { index: number; text: string }>();
  private busyTimers: NodeJS.Timeout[] = [];
  private lastContactMs = 0;
  /** Response body bytes written, for load measurements. */
  bytesSent = 0;
  /** When false, `requests` is not appended to (long benchmarks); `requestCount` still counts. */
  recordRequests = true;
  requestCount = 0;
  private readonly waiters = new Set<Waiter>();
  private readonly kvs = new Map<string, { value: Buffer; CreateIndex: number; ModifyIndex: number }>();
  private kvIndex = 1;
  private readonly hung = new Set<ServerResponse>();
  private fault: Fault | null = null;
  private faultPaths: RegExp | null = null;
  private delayMs = 0;
  private leader = true;
  private acl: Record<string, AclToken> | null;
  private reaper: NodeJS.Timeout | null = null;
  private readonly runChecks: boolean;
  private readonly fixedPort: number;
  private readonly tls: ConsulEmulatorOptions['tls'];

  /** The Connect CA (roots and leaves); created on `listen()`. */
  readonly connectCa: ConnectCA;
  private readonly leaves = new Map<string, LeafCertificate>();
  private rootsIndex = 1;
  private readonly intentions: Intention[] = [];
  private intentionDefault: 'allow' | 'deny' = 'allow';

  /** Every request received, in order (tests count requests with it). */
  readonly requests: EmulatorRequest[] = [];
  /** Agent mutations in call order. */
  readonly calls: AgentCall[] = [];
  /** Every blocking-capable read answered indented (ConsulEmulatorOptions.prettyAnswers). */
  prettyAnswers: boolean;

  constructor(options: ConsulEmulatorOptions = {}) {
    this.datacenter = options.datacenter ?? 'dc1';
    this.agentNode = options.nodeName ?? 'node-1';
    this.runChecks = options.runChecks ?? true;
    this.acl = options.acl ?? null;
    this.fixedPort = options.port ?? 0;
    this.tls = options.tls;
    this.prettyAnswers = options.prettyAnswers ?? false;
    this.connectCa = new ConnectCA(this.datacenter);
    this.addNode(this.agentNode, options.nodeAddress ?? '127.0.0.1');
    this.server = this.createHttpServer();
  }

  static async start(options: ConsulEmulatorOptions = {}): Promise<ConsulEmulator> {
    const emulator = new ConsulEmulator(options);
    await emulator.listen();
    return emulator;
  }

  /** "127.0.0.1:port", the CONSUL_HTTP_ADDR form. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get url(): string {
    return `${this.tls === undefined ? 'http' : 'https'}://${this.address}`;
  }

  /** Starts listening (again, on the same port after `stop()`). */
  async listen(): Promise<void> {
    await this.connectCa.init();
    const port = this.port || this.fixedPort;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    if (this.runChecks && !this.reaper) {
      this.reaper = setInterval(() => this.reap(), 100);
      this.reaper.unref();
    }
  }

  /** Kills the HTTP side (like a stopped agent): the port refuses connections until `listen()`. */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.destroyAll();
    });
    this.server = this.createHttpServer();
  }

  /** Stops everything, including check timers. */
  async close(): Promise<void> {
    this.stopBusy();
    if (this.reaper) clearInterval(this.reaper);
    this.reaper = null;
    for (const c of this.checks.values()) if (c.timer) clearInterval(c.timer);
    if (this.server.listening) await this.stop();
  }

  // ---------------------------------------------------------------- fault controls

  /** Applies a fault to every request (to `paths` only, when given) until `clearFaults()`. */
  setFault(fault: Fault, paths?: RegExp): void {
    this.fault = fault;
    this.faultPaths = paths ?? null;
  }

  /** 500 "No cluster leader" on every request; status/leader answers "". */
  noLeader(): void {
    this.leader = false;
    this.setFault({ kind: 'status', status: 500, body: 'No cluster leader' }, /^\/v1\/(catalog|health)\//);
  }

  /** Answers `delayMs` late (every request). */
  slow(delayMs: number): void {
    this.delayMs = delayMs;
  }

  /** Removes faults and delays; hung requests are dropped (their connections destroyed). */
  clearFaults(): void {
    this.fault = null;
    this.faultPaths = null;
    this.delayMs = 0;
    this.leader = true;
    for (const res of this.hung) res.socket?.destroy();
    this.hung.clear();
  }

  /** Destroys every open connection now (in-flight blocking queries included). */
  dropConnections(): void {
    this.destroyAll();
  }

  /**
   * Moves every index back to `to` (a snapshot restore or a server rebuilt from scratch).
   * Held blocking queries keep waiting (as in Consul) unless `wake` is true.
   */
  resetIndex(to = 1, wake = false): void {
    this.raftIndex = to;
    this.tableIndex.nodes = to;
    this.tableIndex.services = to;
    this.tableIndex.checks = to;
    this.kvIndex = to;
    for (const e of this.kvs.values()) e.ModifyIndex = Math.min(e.ModifyIndex, to);
    for (const name of this.serviceIndex.keys()) this.serviceIndex.set(name, to);
    this.answers.clear();
    if (wake) for (const w of [...this.waiters]) w.wake(true);
  }

  /**
   * Answers `?stale` reads as a follower that last heard from the leader `ms` ago
   * (X-Consul-LastContact); reads without `stale` are answered by the leader (0).
   */
  setLastContact(ms: number): void {
    this.lastContactMs = ms;
  }

  /** Starts busy-datacenter mode (see BusyDatacenterOptions); `stopBusy()` ends it. */
  startBusy(options: BusyDatacenterOptions = {}): void {
    this.stopBusy();
    const prefix = options.prefix ?? 'busy-';
    const count = Math.max(1, options.services ?? 20);
    for (let i = 0; i < count; i++) {
      if (!this.services.has(`${this.agentNode}/${prefix}${i}`)) {
        this.register({ Name: `${prefix}${i}`, ID: `${prefix}${i}`, Address: '127.0.0.1', Port: 30_000 + i, Tags: ['busy'], Check: { TTL: '87600h', Status: 'passing' } });
      }
    }
    let write = 0;
    let flap = 0;
    const every = (perSecond: number | undefined, action: () => void) => {
      if (!perSecond || perSecond <= 0) return;
      // Timers fire at most every ~1 ms: above 1,000/s several actions run per tick.
      const periodMs = Math.max(1, 1000 / perSecond);
      const perTick = Math.max(1, Math.round(perSecond / 1000));
      const timer = setInterval(() => {
        for (let k = 0; k < perTick; k++) action();
      }, periodMs);
      timer.unref();
      this.busyTimers.push(timer);
    };
    every(options.writesPerSecond, () => {
      const i = write++ % count;
      this.register({ Name: `${prefix}${i}`, ID: `${prefix}${i}`, Address: '127.0.0.1', Port: 30_000 + i, Tags: ['busy'], Meta: { revision: String(write) }, Check: { TTL: '87600h' } });
    });
    every(options.flapsPerSecond, () => {
      const i = flap++ % count;
      const check = this.checks.get(`${this.agentNode}/service:${prefix}${i}`);
      if (check) this.updateCheck(check, check.Status === 'passing' ? 'critical' : 'passing', '');
    });
  }

  stopBusy(): void {
    for (const t of this.busyTimers) clearInterval(t);
    this.busyTimers = [];
  }

  /** Replaces the ACL table (null: ACLs disabled). */
  setAcl(acl: Record<string, AclToken> | null): void {
    this.acl = acl;
    this.answers.clear();
  }

  /** Requests received whose path starts with `prefix`. */
  requestsTo(prefix: string): EmulatorRequest[] {
    return this.requests.filter((r) => r.path.startsWith(prefix));
  }

  // ---------------------------------------------------------------- state from the test side

  addNode(name: string, address: string): void {
    const existed = this.nodes.has(name);
    this.nodes.set(name, { Node: name, Address: address, Datacenter: this.datacenter, TaggedAddresses: { lan: address, wan: address }, Meta: {}, ID: fakeUuid(name) });
    if (!existed) {
      this.putCheck(name, { CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing' }, null, 'Agent alive and reachable');
    }
    this.commit(['nodes', 'checks'], this.servicesOnNode(name));
  }

  /** Registers a service instance on `node` (default: the agent's node), as the agent endpoint does. */
  register(registration: ServiceRegistration, node = this.agentNode, replaceExistingChecks = false): string {
    if (!registration.Name) throw new HttpError(400, 'Missing service name');
    if (!this.nodes.has(node)) throw new HttpError(400, `Unknown node "${node}"`);
    const id = registration.ID || registration.Name;
    const key = `${node}/${id}`;
    const previous = this.services.get(key);
    const weights = { Passing: registration.Weights?.Passing ?? 1, Warning: registration.Weights?.Warning ?? 1 };
    if (weights.Passing < 1) throw new HttpError(400, 'Passing must be greater than 0');
    if (weights.Warning < 0) throw new HttpError(400, 'Warning must be greater or equal than 0');
    const record: ServiceRecord = {
      node,
      ID: id,
      Service: registration.Name,
      Tags: [...(registration.Tags ?? [])],
      Address: registration.Address ?? '',
      Port: registration.Port ?? 0,
      Meta: { ...(registration.Meta ?? {}) },
      Weights: weights,
      EnableTagOverride: registration.EnableTagOverride ?? false,
      Kind: registration.Kind ?? '',
      Proxy: registration.Proxy ?? null,
      Connect: registration.Connect ?? null,
      CreateIndex: previous?.CreateIndex ?? this.raftIndex + 1,
      ModifyIndex: this.raftIndex + 1,
    };
    if (record.Kind !== '' && record.Kind !== 'connect-proxy') throw new HttpError(400, `Invalid service kind: "${record.Kind}" (this emulator knows connect-proxy)`);
    if (record.Kind === 'connect-proxy' && !record.Proxy?.DestinationServiceName) throw new HttpError(400, 'Proxy.DestinationServiceName must be set for a connect-proxy');
    if (record.Kind === 'connect-proxy' && record.Port === 0) throw new HttpError(400, 'Port must be set for a Connect proxy');
    const bindPorts = new Set<string>();
    for (const u of record.Proxy?.Upstreams ?? []) {
      const bind = `${u.LocalBindAddress ?? ''}:${u.LocalBindPort ?? 0}`;
      if (!u.LocalBindPort) throw new HttpError(400, `upstream ${u.DestinationName}: LocalBindPort cannot be zero`);
      if (bindPorts.has(bind)) throw new HttpError(400, `upstreams cannot contain duplicates by local bind address and port; "${bind}" is specified twice`);
      bindPorts.add(bind);
    }
    const names = new Set([record.Service, ...connectNames(record)]);
    if (previous) {
      names.add(previous.Service);
      for (const n of connectNames(previous)) names.add(n);
      this.instancesByName.get(previous.Service)?.delete(key);
    }
    this.services.set(key, record);
    let instances = this.instancesByName.get(record.Service);
    if (!instances) this.instancesByName.set(record.Service, (instances = new Set()));
    instances.add(key);
    const defs = [...(registration.Check ? [registration.Check] : []), ...(registration.Checks ?? [])];
    const keep = new Set<string>();
    defs.forEach((def, i) => {
      const checkId = def.CheckID || (defs.length === 1 ? `service:${id}` : `service:${id}:${i + 1}`);
      keep.add(checkId);
      this.putCheck(node, { ...def, CheckID: checkId, Name: def.Name || `Service '${record.Service}' check` }, record);
    });
    for (const c of [...(this.checksByOwner.get(`${node}/${id}`)?.values() ?? [])]) {
      c.ServiceName = record.Service;
      c.ServiceTags = record.Tags;
      if (replaceExistingChecks && !keep.has(c.CheckID) && !c.CheckID.startsWith('_service_maintenance:')) this.removeCheck(node, c.CheckID);
    }
    this.commit(['services', 'checks'], names);
    return id;
  }

  deregister(serviceId: string, node = this.agentNode): void {
    const record = this.services.get(`${node}/${serviceId}`);
    if (!record) throw new HttpError(404, `Unknown service ID "${serviceId}". Ensure that the service ID is passed, not the service name.`);
    this.services.delete(`${node}/${serviceId}`);
    this.instancesByName.get(record.Service)?.delete(`${node}/${serviceId}`);
    for (const c of [...(this.checksByOwner.get(`${node}/${serviceId}`)?.values() ?? [])]) this.removeCheck(node, c.CheckID);
    this.commit(['services', 'checks'], [record.Service]);
  }

  /** Sets a check's status directly (any check type; node checks such as serfHealth too). */
  setCheckStatus(checkId: string, status: CheckStatus, output = '', node = this.agentNode): void {
    const check = this.checks.get(`${node}/${checkId}`);
    if (!check) throw new HttpError(404, `Unknown check ID "${checkId}"`);
    this.updateCheck(check, status, output);
  }

  /** Turns maintenance mode on or off for a service instance. */
  maintenance(serviceId: string, enable: boolean, reason = '', node = this.agentNode): void {
    const record = this.services.get(`${node}/${serviceId}`);
    if (!record) throw new HttpError(404, `Unknown service ID "${serviceId}"`);
    const checkId = `_service_maintenance:${serviceId}`;
    if (enable) {
      if (this.checks.has(`${node}/${checkId}`)) return;
      const notes = reason || 'Maintenance mode is enabled for this service, but no reason was provided. This is a default message.';
      this.putCheck(node, { CheckID: checkId, Name: 'Service Maintenance Mode', Status: 'critical', Notes: notes }, record);
    } else {
      if (!this.checks.has(`${node}/${checkId}`)) return;
      this.removeCheck(node, checkId);
    }
    this.commit(['checks'], [record.Service]);
  }

  /**
   * Turns maintenance mode on or off for a whole node, as `PUT /v1/agent/maintenance` does on
   * its agent: a critical node check `_node_maintenance` that every instance on the node lists.
   */
  nodeMaintenance(enable: boolean, reason = '', node = this.agentNode): void {
    if (!this.nodes.has(node)) throw new HttpError(404, `Unknown node "${node}"`);
    const checkId = '_node_maintenance';
    if (enable === this.checks.has(`${node}/${checkId}`)) return;
    if (enable) {
      const notes = reason || 'Maintenance mode is enabled for this node, but no reason was provided. This is a default message.';
      this.putCheck(node, { CheckID: checkId, Name: 'Node Maintenance Mode', Status: 'critical', Notes: notes }, null);
    } else {
      this.removeCheck(node, checkId);
    }
    this.commit(['checks'], this.servicesOnNode(node));
  }

  /** The value stored under a KV key, or undefined. */
  kvGet(key: string): string | undefined {
    return this.kvs.get(key)?.value.toString('utf8');
  }

  /** Writes a KV key as `PUT /v1/kv/<key>` does (wakes blocking readers). */
  kvPut(key: string, value: string): void {
    this.raftIndex += 1;
    const previous = this.kvs.get(key);
    this.kvs.set(key, { value: Buffer.from(value, 'utf8'), CreateIndex: previous?.CreateIndex ?? this.raftIndex, ModifyIndex: this.raftIndex });
    this.kvIndex = this.raftIndex;
    for (const w of [...this.waiters]) w.wake(false);
  }

  /** Deletes a KV key as `DELETE /v1/kv/<key>` does. */
  kvDelete(key: string): void {
    this.raftIndex += 1;
    this.kvs.delete(key);
    this.kvIndex = this.raftIndex;
    for (const w of [...this.waiters]) w.wake(false);
  }

  /** The current services-table index (what /v1/catalog/services answers). */
  get servicesIndex(): number {
    return this.tableIndex.services;
  }

  // ---------------------------------------------------------------- HTTP

  private createHttpServer(): Server {
    const serve = (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.text(res, err instanceof HttpError ? err.status : 500, (err as Error).message);
      });
    };
    const tls = this.tls;
    const server: Server =
      tls === undefined
        ? createServer(serve)
        : createHttpsServer({ cert: tls.cert, key: tls.key, ...(tls.ca !== undefined ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}) }, serve);
    server.keepAliveTimeout = 60_000;
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    return server;
  }

  private destroyAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.hung.clear();
    for (const w of [...this.waiters]) this.waiters.delete(w);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://consul');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    this.requestCount += 1;
    if (this.recordRequests) this.requests.push({ method, path, query: url.searchParams, time: Date.now() });
    const body = await readBody(req);

    const fault = this.fault;
    if (fault && (!this.faultPaths || this.faultPaths.test(path))) {
      switch (fault.kind) {
        case 'hang':
          this.hung.add(res);
          res.once('close', () => this.hung.delete(res));
          return;
        case 'destroy':
          req.socket.destroy();
          return;
        case 'status':
          return this.text(res, fault.status, fault.body);
        case 'garbage':
          res.writeHead(200, { 'content-type': 'application/json', 'x-consul-index': String(this.raftIndex), 'x-consul-knownleader': 'true' });
          res.end('{"Node": [garbage');
          return;
      }
    }
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));

    const token = tokenOf(req);
    const acl = this.aclFor(token);

    if (path.startsWith('/v1/agent/connect/')) return this.agentConnect(path, method, url.searchParams, body, acl, res);
    const agentService = AGENT_SERVICE_PATH.exec(path);
    if (agentService && agentService[1] !== 'register') {
      if (method !== 'GET') throw new HttpError(405, `method ${method} not allowed`);
      return this.agentService(decodeURIComponent(agentService[1]!), acl, res);
    }
    if (path.startsWith('/v1/agent/')) {
      if (path !== '/v1/agent/self' && method !== 'PUT') throw new HttpError(405, `method ${method} not allowed`);
      if (path !== '/v1/agent/self' && acl !== null && !acl.write) throw new HttpError(403, 'Permission denied');
      return this.agent(path, url.searchParams, body, res);
    }
    if (path.startsWith('/v1/kv/')) return this.kv(method, decodeURIComponent(path.slice('/v1/kv/'.length)), url.searchParams, body, acl, res);
    if (method !== 'GET') throw new HttpError(405, `method ${method} not allowed`);
    const dc = url.searchParams.get('dc');
    if (dc !== null && dc !== '' && dc !== this.datacenter) throw new HttpError(500, `No path to datacenter`);
    const filter = url.searchParams.get('filter');
    const matches = filter === null ? null : checkFilter(filter);
    if (path === '/v1/status/leader') return this.json(res, this.leader ? '127.0.0.1:8300' : '', null);
    if (path === '/v1/status/peers') return this.json(res, this.leader ? ['127.0.0.1:8300'] : [], null);

    const read = this.reader(path, url.searchParams, acl, matches);
    if (!read) throw new HttpError(404, `Invalid URL path: not a recognized HTTP API endpoint`);
    await this.blockingRead(path, url.searchParams, read, res);
  }

  /** The index function and result function of a catalog/health read, or null when unknown. */
  private reader(path: string, query: URLSearchParams, acl: AclToken | null, matches: ((check: CheckRecord) => boolean) | null): { index(): number; result(): unknown; filtered(): boolean } | null {
    const canRead = (service: string) => acl === null || acl.serviceRead === '*' || acl.serviceRead.includes(service);
    const tags = query.getAll('tag');
    if (matches !== null && !path.startsWith('/v1/health/state/')) throw new HttpError(400, 'this emulator supports filter only on /v1/health/state/:state');
    if (path === '/v1/catalog/services') {
      return {
        index: () => this.tableIndex.services,
        result: () => {
          const out: Record<string, string[]> = {};
          for (const s of this.services.values()) {
            if (!canRead(s.Service)) continue;
            const list = (out[s.Service] ??= []);
            for (const t of s.Tags) if (!list.includes(t)) list.push(t);
          }
          return out;
        },
        filtered: () => acl !== null && [...this.services.values()].some((s) => !canRead(s.Service)),
      };
    }
    if (path === '/v1/health/state/any' || /^\/v1\/health\/state\/(passing|warning|critical)$/.test(path)) {
      const state = path.slice('/v1/health/state/'.length);
      return {
        index: () => this.tableIndex.checks,
        result: () =>
          [...this.checks.values()]
            .filter((c) => (state === 'any' || c.Status === state) && (c.ServiceName === '' || canRead(c.ServiceName)) && (matches === null || matches(c)))
            .map(publicCheck),
        filtered: () => acl !== null && [...this.checks.values()].some((c) => c.ServiceName !== '' && !canRead(c.ServiceName)),
      };
    }
    const connectHealth = /^\/v1\/health\/connect\/([^/]+)$/.exec(path);
    if (connectHealth) {
      const target = decodeURIComponent(connectHealth[1]!);
      const passingOnly = query.get('passing') === '' || query.get('passing') === 'true' || query.get('passing') === '1';
      return {
        // The target's index, or a later one of its proxies' (their check updates move only the proxy's name).
        index: () => {
          let index = this.serviceIndex.get(target) ?? this.tableIndex.services;
          for (const s of this.services.values()) if (connectNames(s).includes(target)) index = Math.max(index, this.serviceIndex.get(s.Service) ?? 0);
          return index;
        },
        result: () => {
          if (!canRead(target)) return [];
          return [...this.services.values()]
            .filter((s) => connectNames(s).includes(target))
            .map((s) => this.healthEntry(s))
            .filter((e) => !passingOnly || e.Checks.every((c) => c.Status === 'passing'));
        },
        filtered: () => !canRead(target),
      };
    }
    const health = /^\/v1\/health\/service\/([^/]+)$/.exec(path);
    const catalog = /^\/v1\/catalog\/service\/([^/]+)$/.exec(path);
    const name = decodeURIComponent((health ?? catalog)?.[1] ?? '');
    if (!name) return null;
    const passing = health !== null && (query.get('passing') === '' || query.get('passing') === 'true' || query.get('passing') === '1');
    return {
      index: () => this.serviceIndex.get(name) ?? this.tableIndex.services,
      result: () => {
        if (!canRead(name)) return [];
        const instances = [...(this.instancesByName.get(name) ?? [])].map((k) => this.services.get(k)!).filter((s) => tags.every((t) => s.Tags.includes(t)));
        if (catalog) return instances.map((s) => this.catalogEntry(s));
        return instances.map((s) => this.healthEntry(s)).filter((e) => !passing || e.Checks.every((c) => c.Status === 'passing'));
      },
      filtered: () => !canRead(name),
    };
  }

  private async kv(method: string, key: string, query: URLSearchParams, body: string, acl: AclToken | null, res: ServerResponse): Promise<void> {
    if (key === '') throw new HttpError(400, 'Missing key name');
    const dc = query.get('dc');
    if (dc !== null && dc !== '' && dc !== this.datacenter) throw new HttpError(500, `No path to datacenter`);
    if (method === 'PUT' || method === 'DELETE') {
      if (acl !== null && !acl.write) throw new HttpError(403, 'Permission denied');
      if (method === 'PUT') this.kvPut(key, body);
      else this.kvDelete(key);
      return this.ok(res);
    }
    if (method !== 'GET') throw new HttpError(405, `method ${method} not allowed`);
    const read = {
      index: () => this.kvs.get(key)?.ModifyIndex ?? this.kvIndex,
      missing: () => !this.kvs.has(key),
      raw: query.has('raw'),
      result: () => {
        const e = this.kvs.get(key)!;
        if (query.has('raw')) return e.value;
        return [{ Key: key, Value: e.value.length === 0 ? null : e.value.toString('base64'), Flags: 0, LockIndex: 0, CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex }];
      },
      filtered: () => false,
    };
    await this.blockingRead(`/v1/kv/${key}`, query, read, res);
  }

  private async blockingRead(
    path: string,
    query: URLSearchParams,
    read: { index(): number; result(): unknown; filtered(): boolean; missing?(): boolean; raw?: boolean },
    res: ServerResponse,
  ): Promise<void> {
    const minIndex = Number(query.get('index') ?? '0');
    if (!Number.isFinite(minIndex) || minIndex < 0) throw new HttpError(400, 'Invalid index');
    let waitMs = DEFAULT_WAIT_MS;
    const wait = query.get('wait');
    if (wait !== null) {
      const parsed = parseGoDuration(wait);
      if (parsed === undefined) throw new HttpError(400, 'Invalid wait time');
      waitMs = Math.min(parsed, MAX_WAIT_MS);
    }
    const stale = query.has('stale');
    // Identical reads at one index get one serialization (ACLs off: the answer is the same for all).
    const cacheKey = this.acl === null ? `${path}?${query.getAll('tag').join(',')}&${query.get('filter') ?? ''}&${query.get('passing') ?? ''}` : null;
    const respond = () => {
      const headers: Record<string, string> = {
        'x-consul-knownleader': String(this.leader),
        'x-consul-lastcontact': String(stale ? this.lastContactMs : 0),
        'x-consul-effective-consistency': stale ? 'stale' : query.has('consistent') ? 'consistent' : 'leader',
      };
      if (read.filtered()) headers['x-consul-results-filtered-by-acls'] = 'true';
      const index = Math.max(1, read.index());
      if (read.missing?.()) {
        res.writeHead(404, { ...headers, 'x-consul-index': String(index), 'content-length': 0 });
        res.end();
        return;
      }
      if (read.raw) {
        const value = read.result() as Buffer;
        res.writeHead(200, { ...headers, 'x-consul-index': String(index), 'content-type': 'application/octet-stream', 'content-length': value.length });
        res.end(value);
        return;
      }
      let text: string;
      const cached = cacheKey === null ? undefined : this.answers.get(cacheKey);
      if (cached && cached.index === index) text = cached.text;
      else {
        text = JSON.stringify(read.result());
        if (cacheKey !== null) this.answers.set(cacheKey, { index, text });
      }
      // Consul's ?pretty: json.MarshalIndent with four spaces.
      if (this.prettyAnswers || query.has('pretty')) text = JSON.stringify(JSON.parse(text), null, 4);
      this.sendJson(res, text, index, headers);
    };
    if (minIndex === 0 || read.index() > minIndex) return respond();

    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, waitMs + Math.random() * (waitMs / 16));
      const waiter: Waiter = {
        wake: (reset) => {
          if (reset || read.index() > minIndex) done();
        },
      };
      function done(): void {
        clearTimeout(timer);
        cleanup();
        resolve();
      }
      const cleanup = () => this.waiters.delete(waiter);
      this.waiters.add(waiter);
      res.once('close', () => {
        clearTimeout(timer);
        cleanup();
        resolve();
      });
    });
    if (!res.destroyed && !res.writableEnded) respond();
  }

  /**
   * GET /v1/agent/service/<id>: the agent's own definition of a local service (200), 404
   * `unknown service ID: <id>` when the agent has none, 403 without service:read on it.
   * Carries X-Consul-ContentHash like Consul; hash-based blocking (`?hash=`) is not emulated.
   */
  private agentService(id: string, acl: AclToken | null, res: ServerResponse): void {
    const record = this.services.get(`${this.agentNode}/${id}`);
    if (!record) throw new HttpError(404, `unknown service ID: ${id}`);
    if (acl !== null && acl.serviceRead !== '*' && !acl.serviceRead.includes(record.Service)) throw new HttpError(403, 'Permission denied');
    const definition = {
      ID: record.ID,
      Service: record.Service,
      Tags: record.Tags,
      Meta: record.Meta,
      Port: record.Port,
      Address: record.Address,
      TaggedAddresses: {},
      Weights: record.Weights,
      EnableTagOverride: record.EnableTagOverride,
      Datacenter: this.datacenter,
    };
    const contentHash = createHash('sha256').update(JSON.stringify(definition)).digest('hex').slice(0, 16);
    this.json(res, { ...definition, ContentHash: contentHash }, null, { 'x-consul-contenthash': contentHash });
  }

  private async agent(path: string, query: URLSearchParams, body: string, res: ServerResponse): Promise<void> {
    if (path === '/v1/agent/self') {
      const node = this.nodes.get(this.agentNode)!;
      return this.json(res, {
        Config: { Datacenter: this.datacenter, PrimaryDatacenter: this.datacenter, NodeName: node.Node, NodeID: node.ID, Server: true, Revision: 'emulator', Version: '1.18.0' },
        Member: { Name: node.Node, Addr: node.Address, Port: 8301, Tags: { dc: this.datacenter, role: 'consul' }, Status: 1 },
        Meta: {},
      }, null);
    }
    if (path === '/v1/agent/service/register') {
      let registration: ServiceRegistration;
      try {
        registration = JSON.parse(body) as ServiceRegistration;
      } catch {
        throw new HttpError(400, 'Request decode failed: invalid JSON');
      }
      const id = this.register(registration, this.agentNode, query.get('replace-existing-checks') === 'true');
      this.calls.push({ op: 'register', id, time: Date.now(), detail: registration });
      return this.ok(res);
    }
    let m = /^\/v1\/agent\/service\/deregister\/(.+)$/.exec(path);
    if (m) {
      const id = decodeURIComponent(m[1]!);
      this.deregister(id);
      this.calls.push({ op: 'deregister', id, time: Date.now(), detail: null });
      return this.ok(res);
    }
    m = /^\/v1\/agent\/service\/maintenance\/(.+)$/.exec(path);
    if (m) {
      const id = decodeURIComponent(m[1]!);
      const enable = query.get('enable');
      if (enable === null) throw new HttpError(400, 'Missing value for enable');
      if (enable !== 'true' && enable !== 'false') throw new HttpError(400, `Invalid value for enable: "${enable}"`);
      const reason = query.get('reason') ?? '';
      this.maintenance(id, enable === 'true', reason);
      this.calls.push({ op: 'maintenance', id, time: Date.now(), detail: { enable: enable === 'true', reason } });
      return this.ok(res);
    }
    m = /^\/v1\/agent\/check\/(pass|warn|fail|update)\/(.+)$/.exec(path);
    if (m) {
      const id = decodeURIComponent(m[2]!);
      const check = this.checks.get(`${this.agentNode}/${id}`);
      if (!check) throw new HttpError(404, `Unknown check ID "${id}"`);
      let status: CheckStatus;
      let output: string;
      if (m[1] === 'update') {
        let update: { Status?: string; Output?: string };
        try {
          update = JSON.parse(body || '{}') as { Status?: string; Output?: string };
        } catch {
          throw new HttpError(400, 'Request decode failed: invalid JSON');
        }
        if (update.Status !== 'passing' && update.Status !== 'warning' && update.Status !== 'critical') {
          throw new HttpError(400, `Invalid check status: "${update.Status ?? ''}"`);
        }
        status = update.Status;
        output = update.Output ?? '';
      } else {
        status = m[1] === 'pass' ? 'passing' : m[1] === 'warn' ? 'warning' : 'critical';
        output = query.get('note') ?? '';
      }
      if (!check.definition.TTL) throw new HttpError(500, `CheckID "${id}" does not have associated TTL`);
      this.updateCheck(check, status, output);
      this.calls.push({ op: 'check', id, time: Date.now(), detail: { status, output } });
      return this.ok(res);
    }
    throw new HttpError(404, `Invalid URL path: not a recognized HTTP API endpoint`);
  }

  // ---------------------------------------------------------------- Connect

  /** Adds or replaces the intention from `source` ("*" for any) to `destination`. */
  setIntention(source: string, destination: string, action: 'allow' | 'deny'): void {
    const i = this.intentions.findIndex((x) => x.source === source && x.destination === destination);
    if (i >= 0) this.intentions.splice(i, 1);
    this.intentions.push({ source, destination, action });
  }

  deleteIntention(source: string, destination: string): void {
    const i = this.intentions.findIndex((x) => x.source === source && x.destination === destination);
    if (i >= 0) this.intentions.splice(i, 1);
  }

  /** What applies when no intention matches (Consul: allow without ACLs, the ACL default policy with them). */
  setIntentionDefault(action: 'allow' | 'deny'): void {
    this.intentionDefault = action;
  }

  /** Issues a new leaf for `service` (as the agent does before the old one expires); blocked readers wake. */
  async rotateLeaf(service: string, validForMs?: number): Promise<LeafCertificate> {
    const index = this.raftIndex + 1;
    const leaf = await this.connectCa.issueLeaf(service, index, validForMs === undefined ? {} : { validForMs });
    this.leaves.set(service, leaf);
    this.connectCommit();
    return leaf;
  }

  /** A new root cross-signed by the old one (which stays in the bundle); every leaf is issued again by it. */
  async rotateRoots(): Promise<void> {
    const index = this.raftIndex + 1;
    await this.connectCa.rotateRoot(index);
    for (const service of [...this.leaves.keys()]) this.leaves.set(service, await this.connectCa.issueLeaf(service, index));
    this.rootsIndex = index;
    this.connectCommit();
  }

  /** Removes the inactive roots from the bundle (after the old root expired). */
  pruneRoots(): void {
    this.connectCa.pruneRoots();
    this.rootsIndex = this.raftIndex + 1;
    this.connectCommit();
  }

  /** The leaf the agent serves now for `service`, if it has issued one. */
  currentLeaf(service: string): LeafCertificate | undefined {
    return this.leaves.get(service);
  }

  /** The intention decision for a caller URI, as POST /v1/agent/connect/authorize answers it. */
  authorize(target: string, clientCertUri: string): { Authorized: boolean; Reason: string } {
    const m = SPIFFE_SERVICE.exec(clientCertUri);
    if (!m) throw new HttpError(400, `ClientCertURI not a valid Connect identifier: ${clientCertUri}`);
    if (m[1] !== this.connectCa.trustDomain) return { Authorized: false, Reason: `Identity from an external trust domain: ${m[1]}` };
    const source = decodeURIComponent(m[4]!);
    const match = this.intentions.find((x) => x.destination === target && x.source === source) ?? this.intentions.find((x) => x.destination === target && x.source === '*');
    if (match) return { Authorized: match.action === 'allow', Reason: `Matched L4 intention: ${match.source} => ${match.destination} (${match.action})` };
    return { Authorized: this.intentionDefault === 'allow', Reason: `Default behavior configured by ACLs: ${this.intentionDefault}` };
  }

  private connectCommit(): void {
    this.raftIndex += 1;
    for (const w of [...this.waiters]) w.wake(false);
  }

  private async agentConnect(path: string, method: string, query: URLSearchParams, body: string, acl: AclToken | null, res: ServerResponse): Promise<void> {
    if (path === '/v1/agent/connect/authorize') {
      if (method !== 'POST') throw new HttpError(405, `method ${method} not allowed`);
      if (acl !== null && !acl.write) throw new HttpError(403, 'Permission denied');
      let request: { Target?: string; ClientCertURI?: string; ClientCertSerial?: string };
      try {
        request = JSON.parse(body || '{}') as typeof request;
      } catch {
        throw new HttpError(400, 'Request decode failed: invalid JSON');
      }
      if (!request.Target) throw new HttpError(400, 'Target service must be specified');
      if (!request.ClientCertURI) throw new HttpError(400, 'ClientCertURI must be specified');
      return this.json(res, this.authorize(request.Target, request.ClientCertURI), null);
    }
    if (method !== 'GET') throw new HttpError(405, `method ${method} not allowed`);
    await this.connectCa.init();
    if (path === '/v1/agent/connect/ca/roots') {
      return this.blockingRead(path, query, { index: () => this.rootsIndex, result: () => this.connectCa.rootsResponse(this.rootsIndex), filtered: () => false }, res);
    }
    const leaf = /^\/v1\/agent\/connect\/ca\/leaf\/([^/]+)$/.exec(path);
    if (leaf) {
      const service = decodeURIComponent(leaf[1]!);
      if (acl !== null && !acl.write) throw new HttpError(403, 'Permission denied');
      if (!this.leaves.has(service)) this.leaves.set(service, await this.connectCa.issueLeaf(service, this.raftIndex));
      return this.blockingRead(path, query, { index: () => this.leaves.get(service)!.ModifyIndex, result: () => this.leaves.get(service)!, filtered: () => false }, res);
    }
    throw new HttpError(404, `Invalid URL path: not a recognized HTTP API endpoint`);
  }

  // ---------------------------------------------------------------- state internals

  private aclFor(token: string | null): AclToken | null {
    if (this.acl === null) return null;
    if (token === null || token === '' || token === 'anonymous') return { serviceRead: [], write: false };
    const found = this.acl[token];
    if (!found) throw new HttpError(403, 'ACL not found');
    return found;
  }

  private servicesOnNode(node: string): string[] {
    return [...this.services.values()].filter((s) => s.node === node).map((s) => s.Service);
  }

  private commit(tables: readonly ('nodes' | 'services' | 'checks')[], serviceNames: Iterable<string>): void {
    this.raftIndex += 1;
    for (const t of tables) this.tableIndex[t] = this.raftIndex;
    for (const name of serviceNames) this.serviceIndex.set(name, this.raftIndex);
    for (const w of [...this.waiters]) w.wake(false);
  }

  private putCheck(node: string, def: CheckDefinition & { CheckID: string; Name: string }, service: ServiceRecord | null, output = ''): void {
    const key = `${node}/${def.CheckID}`;
    const previous = this.checks.get(key);
    if (previous?.timer) clearInterval(previous.timer);
    const type = def.HTTP ? 'http' : def.TCP ? 'tcp' : def.TTL ? 'ttl' : def.CheckID === 'serfHealth' ? 'serf' : def.CheckID.startsWith('_service_maintenance:') || def.CheckID === '_node_maintenance' ? 'maintenance' : '';
    const status = def.Status ?? previous?.Status ?? 'critical';
    const check: CheckRecord = {
      Node: node,
      CheckID: def.CheckID,
      Name: def.Name,
      Status: status,
      Notes: def.Notes ?? '',
      Output: previous?.Output ?? output,
      ServiceID: service?.ID ?? '',
      ServiceName: service?.Service ?? '',
      ServiceTags: service?.Tags ?? [],
      Type: type,
      CreateIndex: previous?.CreateIndex ?? this.raftIndex + 1,
      ModifyIndex: this.raftIndex + 1,
      definition: def,
      ttlExpiresAt: def.TTL ? Date.now() + (parseGoDuration(def.TTL) ?? 0) : null,
      criticalSince: status === 'critical' ? Date.now() : null,
      timer: null,
    };
    this.checks.set(key, check);
    let onNode = this.checksByNode.get(node);
    if (!onNode) this.checksByNode.set(node, (onNode = new Map()));
    onNode.set(def.CheckID, check);
    if (!this.checkSeq.has(key)) this.checkSeq.set(key, this.nextCheckSeq++);
    if (previous && previous.ServiceID !== check.ServiceID) this.checksByOwner.get(`${node}/${previous.ServiceID}`)?.delete(def.CheckID);
    const owner = `${node}/${check.ServiceID}`;
    let owned = this.checksByOwner.get(owner);
    if (!owned) this.checksByOwner.set(owner, (owned = new Map()));
    owned.set(def.CheckID, check);
    if (this.runChecks && (def.HTTP || def.TCP)) {
      const interval = Math.max(parseGoDuration(def.Interval ?? '10s') ?? 10_000, 50);
      check.timer = setInterval(() => void this.probe(check), interval);
      check.timer.unref();
      void this.probe(check);
    }
  }

  private removeCheck(node: string, checkId: string): void {
    const key = `${node}/${checkId}`;
    const c = this.checks.get(key);
    if (c?.timer) clearInterval(c.timer);
    this.checks.delete(key);
    this.checksByNode.get(node)?.delete(checkId);
    this.checkSeq.delete(key);
    if (c) this.checksByOwner.get(`${node}/${c.ServiceID}`)?.delete(checkId);
  }

  private updateCheck(check: CheckRecord, status: CheckStatus, output: string): void {
    if (check.definition.TTL) check.ttlExpiresAt = Date.now() + (parseGoDuration(check.definition.TTL) ?? 0);
    if (check.Status === status && check.Output === output) return;
    if (status === 'critical' && check.Status !== 'critical') check.criticalSince = Date.now();
    if (status !== 'critical') check.criticalSince = null;
    check.Status = status;
    check.Output = output;
    check.ModifyIndex = this.raftIndex + 1;
    const names = check.ServiceName ? [check.ServiceName] : this.servicesOnNode(check.Node);
    this.commit(['checks'], names);
  }

  /** Runs one HTTP or TCP check like the agent does. */
  private async probe(check: CheckRecord): Promise<void> {
    if (this.checks.get(`${check.Node}/${check.CheckID}`) !== check) return;
    const timeout = parseGoDuration(check.definition.Timeout ?? '10s') ?? 10_000;
    let status: CheckStatus;
    let output: string;
    if (check.definition.HTTP) {
      const url = check.definition.HTTP;
      const code = await httpStatus(url, timeout);
      status = code === null ? 'critical' : code >= 200 && code < 300 ? 'passing' : code === 429 ? 'warning' : 'critical';
      output = code === null ? `Get "${url}": connection failed` : `HTTP GET ${url}: ${code}`;
    } else {
      const [host, port] = splitHostPort(check.definition.TCP!);
      const ok = await tcpConnects(host, port, timeout);
      status = ok ? 'passing' : 'critical';
      output = ok ? `TCP connect ${check.definition.TCP}: Success` : `dial tcp ${check.definition.TCP}: connection refused`;
    }
    if (this.checks.get(`${check.Node}/${check.CheckID}`) === check) this.updateCheck(check, status, output);
  }

  /** TTL expiry and DeregisterCriticalServiceAfter, as the agent's check reaper does. */
  private reap(): void {
    const now = Date.now();
    for (const c of [...this.checks.values()]) {
      if (c.ttlExpiresAt !== null && now > c.ttlExpiresAt && c.Status !== 'critical') {
        this.updateCheck(c, 'critical', `TTL expired (last output before timeout follows): ${c.Output}`);
      }
      const after = c.definition.DeregisterCriticalServiceAfter ? parseGoDuration(c.definition.DeregisterCriticalServiceAfter) : undefined;
      if (after !== undefined && c.criticalSince !== null && now - c.criticalSince > after && c.ServiceID) {
        if (this.services.has(`${c.Node}/${c.ServiceID}`)) this.deregister(c.ServiceID, c.Node);
      }
    }
  }

  private healthEntry(s: ServiceRecord) {
    const node = this.nodes.get(s.node)!;
    const seq = (c: CheckRecord) => this.checkSeq.get(`${c.Node}/${c.CheckID}`)!;
    const checks = [...(this.checksByOwner.get(`${s.node}/`)?.values() ?? []), ...(this.checksByOwner.get(`${s.node}/${s.ID}`)?.values() ?? [])]
      .sort((a, b) => seq(a) - seq(b))
      .map(publicCheck);
    // Field sets of Consul 1.x's "List Service Instances for Service" sample response
    // (developer.hashicorp.com/consul/api-docs/health#list-service-instances-for-service) and of
    // api.ServiceEntry / api.AgentService in github.com/hashicorp/consul/api (health.go, agent.go);
    // Enterprise-only fields (Namespace, Partition) and peering fields (PeerName) are left out.
    return {
      Node: { ID: node.ID, Node: node.Node, Address: node.Address, Datacenter: node.Datacenter, TaggedAddresses: node.TaggedAddresses, Meta: node.Meta, CreateIndex: 1, ModifyIndex: 1 },
      Service: {
        ID: s.ID,
        Service: s.Service,
        Tags: s.Tags,
        Address: s.Address,
        TaggedAddresses: {},
        Meta: s.Meta,
        Port: s.Port,
        Weights: s.Weights,
        EnableTagOverride: s.EnableTagOverride,
        ...(s.Kind !== '' ? { Kind: s.Kind } : {}),
        Proxy: s.Proxy !== null ? { ...s.Proxy, Mode: '', MeshGateway: {}, Expose: {} } : { Mode: '', MeshGateway: {}, Expose: {} },
        Connect: s.Connect ?? {},
        CreateIndex: s.CreateIndex,
        ModifyIndex: s.ModifyIndex,
      },
      Checks: checks,
    };
  }

  private catalogEntry(s: ServiceRecord) {
    const node = this.nodes.get(s.node)!;
    return {
      ID: node.ID,
      Node: node.Node,
      Address: node.Address,
      Datacenter: node.Datacenter,
      TaggedAddresses: node.TaggedAddresses,
      NodeMeta: node.Meta,
      ServiceID: s.ID,
      ServiceName: s.Service,
      ServiceTags: s.Tags,
      ServiceAddress: s.Address,
      ServicePort: s.Port,
      ServiceMeta: s.Meta,
      ServiceWeights: s.Weights,
      ServiceEnableTagOverride: s.EnableTagOverride,
      CreateIndex: s.CreateIndex,
      ModifyIndex: s.ModifyIndex,
    };
  }

  private json(res: ServerResponse, value: unknown, index: number | null, extra: Record<string, string> = {}): void {
    this.sendJson(res, JSON.stringify(value), index, extra);
  }

  private sendJson(res: ServerResponse, text: string, index: number | null, extra: Record<string, string> = {}): void {
    this.bytesSent += Buffer.byteLength(text);
    const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra };
    if (index !== null) headers['x-consul-index'] = String(index);
    res.writeHead(200, headers);
    res.end(text);
  }

  private ok(res: ServerResponse): void {
    this.json(res, true, null);
  }

  private text(res: ServerResponse, status: number, body: string): void {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
}

const FILTER_FIELDS = new Set(['Node', 'CheckID', 'Name', 'Status', 'Notes', 'Output', 'ServiceID', 'ServiceName', 'Type']);
const FILTER_CLAUSE = /^\s*(\w+)\s*(==|!=)\s*"([^"]*)"\s*$/;

/**
 * The part of Consul's filter language (github.com/hashicorp/go-bexpr) the emulator needs:
 * `<Field> == "<value>"` or `!=`, joined by `and`, on check fields. Anything else is a 400,
 * as Consul answers an expression it cannot parse.
 */
export function checkFilter(expression: string): (check: CheckRecord) => boolean {
  const clauses = expression.split(/\s+and\s+/).map((part) => {
    const m = FILTER_CLAUSE.exec(part);
    if (!m || !FILTER_FIELDS.has(m[1]!)) throw new HttpError(400, `Failed to create boolean expression evaluator: this emulator cannot evaluate "${part.trim()}" (supported: <Field> == "v" | != "v", joined by "and")`);
    const [, field, op, value] = m as unknown as [string, keyof CheckRecord, string, string];
    return op === '==' ? (c: CheckRecord) => c[field] === value : (c: CheckRecord) => c[field] !== value;
  });
  return (c) => clauses.every((test) => test(c));
}

/**
 * A check as the health endpoints return it: the fields of api.HealthCheck in
 * github.com/hashicorp/consul/api/health.go (the sample responses of /v1/health/state/:state
 * and /v1/health/service/:service list Node, CheckID, Name, Status, Notes, Output, ServiceID,
 * ServiceName, ServiceTags; Consul 1.x adds Type, Interval, Timeout, ExposedPort, Definition).
 */
function publicCheck(c: CheckRecord) {
  return {
    Node: c.Node,
    CheckID: c.CheckID,
    Name: c.Name,
    Status: c.Status,
    Notes: c.Notes,
    Output: c.Output,
    ServiceID: c.ServiceID,
    ServiceName: c.ServiceName,
    ServiceTags: c.ServiceTags,
    Type: c.Type,
    Interval: c.definition.Interval ?? '',
    Timeout: c.definition.Timeout ?? '',
    ExposedPort: 0,
    Definition: {},
    CreateIndex: c.CreateIndex,
    ModifyIndex: c.ModifyIndex,
  };
}

/** spiffe://<trust domain>/ns/<namespace>/dc/<datacenter>/svc/<service> */
const SPIFFE_SERVICE = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/dc\/([^/]+)\/svc\/([^/]+)$/;

/** The service names whose Connect endpoints a registration is (GET /v1/health/connect/<name>). */
function connectNames(s: ServiceRecord): string[] {
  if (s.Kind === 'connect-proxy' && s.Proxy) return [s.Proxy.DestinationServiceName];
  if (s.Connect?.Native) return [s.Service];
  return [];
}

/** GET /v1/agent/service/<id> (one path segment; register/deregister/maintenance are PUT paths). */
const AGENT_SERVICE_PATH = /^\/v1\/agent\/service\/([^/]+)$/;

function tokenOf(req: IncomingMessage): string | null {
  const header = req.headers['x-consul-token'];
  if (typeof header === 'string') return header;
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim();
  return null;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function fakeUuid(seed: string): string {
  let h = 0;
  for (const ch of seed) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  const hex = h.toString(16).padStart(8, '0');
  return `${hex}-0000-4000-8000-${hex}0000`;
}

function splitHostPort(hostPort: string): [string, number] {
  const i = hostPort.lastIndexOf(':');
  return [hostPort.slice(0, i).replace(/^\[|\]$/g, ''), Number(hostPort.slice(i + 1))];
}

function httpStatus(url: string, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? null);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
    req.end();
  });
}

function tcpConnects(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: timeoutMs });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
  });
}
