import { Pool } from 'undici';

/** A registration as `PUT /v1/agent/service/register` takes it (the fields the sidecar sends). */
export interface AgentServiceRegistration {
  ID: string;
  Name: string;
  Tags: string[];
  Address: string;
  Port: number;
  Meta: Record<string, string>;
  Weights: { Passing: number; Warning: number };
  Check: AgentCheckDefinition;
  /** "connect-proxy" for the sidecar's Connect proxy registration (connect-registration.ts). */
  Kind?: 'connect-proxy';
  Proxy?: AgentProxyDefinition;
}

/** The `Proxy` block of a connect-proxy registration. */
export interface AgentProxyDefinition {
  DestinationServiceName: string;
  DestinationServiceID: string;
  LocalServiceAddress: string;
  LocalServicePort: number;
  Upstreams: { DestinationType: 'service'; DestinationName: string; LocalBindAddress: string; LocalBindPort: number }[];
}

/** POST /v1/agent/connect/authorize: the agent's intention decision for one caller. */
export interface ConnectAuthorization {
  Authorized: boolean;
  Reason: string;
}

export type AgentCheckDefinition =
  | { CheckID: string; Name: string; TTL: string; Notes: string; DeregisterCriticalServiceAfter?: string }
  | { CheckID: string; Name: string; HTTP: string; Interval: string; Timeout: string; Notes: string; DeregisterCriticalServiceAfter?: string };

export type CheckStatus = 'passing' | 'warning' | 'critical';

/** The agent answered with an error status (or could not be reached: status 0). */
export class ConsulAgentError extends Error {
  override readonly name = 'ConsulAgentError';
  constructor(
    readonly operation: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(status === 0 ? `consul agent: ${operation}: ${body}` : `consul agent: ${operation}: HTTP ${status}: ${body.trim() || '(empty body)'}`);
  }
}

/**
 * `CONSUL_HTTP_ADDR` semantics: "host:port", or a URL ("https://" means TLS). A missing port
 * is Consul's default 8500.
 */
export function consulOrigin(address: string): string {
  const url = /^[a-z]+:\/\//i.test(address) ? new URL(address) : new URL(`http://${address}`);
  if (!url.port) url.port = '8500';
  return url.origin;
}

/**
 * The few agent endpoints the sidecar uses, over one small undici pool with the ACL token in
 * `X-Consul-Token`. The npm `consul` client would also do; undici keeps the sidecar on the
 * same HTTP stack (and error codes) as the proxy, and these are four plain PUTs.
 */
export class ConsulAgentClient {
  private readonly pool: Pool;
  private readonly headers: Record<string, string>;

  constructor(
    readonly origin: string,
    token: string | undefined,
    private readonly timeoutMs = 5_000,
  ) {
    this.pool = new Pool(origin, { connections: 2, connect: { timeout: timeoutMs } });
    this.headers = token ? { 'x-consul-token': token, 'content-type': 'application/json' } : { 'content-type': 'application/json' };
  }

  async register(registration: AgentServiceRegistration): Promise<void> {
    await this.put('register service', '/v1/agent/service/register?replace-existing-checks=true', JSON.stringify(registration));
  }

  async deregister(serviceId: string): Promise<void> {
    await this.put('deregister service', `/v1/agent/service/deregister/${encodeURIComponent(serviceId)}`);
  }

  async maintenance(serviceId: string, enable: boolean, reason: string): Promise<void> {
    const query = `enable=${enable}${reason ? `&reason=${encodeURIComponent(reason)}` : ''}`;
    await this.put('set maintenance', `/v1/agent/service/maintenance/${encodeURIComponent(serviceId)}?${query}`);
  }

  /** Updates a TTL check. Returns false when the agent does not know the check (404). */
  async updateCheck(checkId: string, status: CheckStatus, output: string): Promise<boolean> {
    try {
      await this.put('update check', `/v1/agent/check/update/${encodeURIComponent(checkId)}`, JSON.stringify({ Status: status, Output: output }));
      return true;
    } catch (err) {
      // 404 on current agents; older ones answer 500 "Unknown check ID".
      if (err instanceof ConsulAgentError && (err.status === 404 || (err.status === 500 && /unknown check/i.test(err.body)))) return false;
      throw err;
    }
  }

  /** Whether the agent knows the service (GET /v1/agent/service/<id>: 404 = forgotten). */
  async hasService(serviceId: string): Promise<boolean> {
    const { status, body } = await this.send('read service', 'GET', `/v1/agent/service/${encodeURIComponent(serviceId)}`);
    if (status === 404) return false;
    if (status >= 200 && status < 300) return true;
    throw new ConsulAgentError('read service', status, body);
  }

  /**
   * Asks the agent whether the caller (its certificate's URI SAN and serial) may connect to
   * `target`, from the agent's cached intentions (layer 4; intentions with L7 permissions
   * count as deny). Call it only after the certificate was verified against the current roots.
   */
  async authorize(target: string, clientCertUri: string, clientCertSerial: string): Promise<ConnectAuthorization> {
    const { status, body } = await this.send('authorize connection', 'POST', '/v1/agent/connect/authorize', JSON.stringify({ Target: target, ClientCertURI: clientCertUri, ClientCertSerial: clientCertSerial }));
    if (status < 200 || status >= 300) throw new ConsulAgentError('authorize connection', status, body);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new ConsulAgentError('authorize connection', status, `not JSON: ${body.slice(0, 100)}`);
    }
    const answer = parsed as Partial<ConnectAuthorization> | null;
    if (answer === null || typeof answer.Authorized !== 'boolean') throw new ConsulAgentError('authorize connection', status, `no Authorized field in ${body.slice(0, 100)}`);
    return { Authorized: answer.Authorized, Reason: typeof answer.Reason === 'string' ? answer.Reason : '' };
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private async put(operation: string, path: string, body?: string): Promise<void> {
    const { status, body: text } = await this.send(operation, 'PUT', path, body);
    if (status < 200 || status >= 300) throw new ConsulAgentError(operation, status, text);
  }

  private async send(operation: string, method: 'GET' | 'PUT' | 'POST', path: string, body?: string): Promise<{ status: number; body: string }> {
    try {
      const res = await this.pool.request({ method, path, headers: this.headers, body: body ?? null, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
      return { status: res.statusCode, body: await res.body.text() };
    } catch (err) {
      const e = err as Error & { code?: string };
      throw new ConsulAgentError(operation, 0, `cannot reach the agent at ${this.origin} (${e.code ?? e.message}); check CONSUL_HTTP_ADDR / sidecar.consul.address`);
    }
  }
}
