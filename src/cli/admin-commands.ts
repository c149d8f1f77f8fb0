import { AdminClient } from './admin-client.js';
import { formatTable } from './text-table.js';

/** The parts of the admin API's JSON the CLI prints (docs/operations.md "Admin API" has the full shapes). */
interface RouteJson {
  name: string;
  source: string;
  host: string | null;
  path: string;
  methods: string[] | null;
  service: string;
  requests: number;
}
interface EndpointJson {
  service: string;
  endpoint: string;
  id: string;
  health: string;
  drained: boolean;
  available: boolean;
  inFlight: number;
  weight: number;
  source: string;
}
interface ServiceJson {
  name: string;
  routed: boolean;
  balancer: string | null;
  total: number;
  healthy: number;
  endpoints: EndpointJson[];
}

interface ListenerJson {
  name: string;
  address: string;
  port: number;
  tls: boolean;
  protocols: string[];
  connections: number;
  http2Connections: number;
}
interface StatusJson {
  version: string;
  pid: number;
  ready: boolean;
  notReadyReason?: string | null;
  configFile: string;
  startedAt: string;
  listeners: ListenerJson[];
}

export interface AdminCommandOptions {
  admin: string;
  /** Where `admin` came from when not from --admin (a config file), for messages. */
  adminFrom?: string | undefined;
  token: string | undefined;
  json: boolean;
  service: string | undefined;
  out: (text: string) => void;
  /** Usage problems (exit code 2). */
  err: (text: string) => void;
}

/** Runs one admin command; returns the exit code. Throws AdminRequestFailed with a readable message. */
export async function runAdminCommand(command: string, args: readonly string[], o: AdminCommandOptions): Promise<number> {
  const client = new AdminClient(o.admin, o.token, o.adminFrom);
  const print = (value: unknown, table: () => string) => o.out(o.json ? JSON.stringify(value, null, 2) : table());
  switch (command) {
    case 'status': {
      const status = await client.get<StatusJson>('/api/v1/status');
      print(status, () => {
        const head = `switchyard ${status.version} · pid ${status.pid} · ${status.ready ? 'ready' : `not ready (${status.notReadyReason ?? 'unknown reason'})`} · up since ${status.startedAt} · ${status.configFile}`;
        const listeners = formatTable(
          ['LISTENER', 'ADDRESS', 'TLS', 'PROTOCOLS', 'CONNECTIONS', 'HTTP/2'],
          status.listeners.map((l) => [l.name, hostAndPort(l.address, l.port), l.tls ? 'yes' : 'no', l.protocols.join(','), String(l.connections), String(l.http2Connections)]),
        );
        return `${head}\n\n${listeners}`;
      });
      return 0;
    }
    case 'routes': {
      const routes = await client.get<RouteJson[]>('/api/v1/routes');
      print(routes, () =>
        formatTable(
          ['ROUTE', 'HOST', 'PATH', 'METHODS', 'SERVICE', 'SOURCE', 'REQUESTS'],
          routes.map((r) => [r.name, r.host ?? '*', r.path, r.methods?.join(',') ?? '*', r.service, r.source, String(r.requests)]),
        ),
      );
      return 0;
    }
    case 'services': {
      const services = await client.get<ServiceJson[]>('/api/v1/services');
      print(services, () =>
        formatTable(
          ['SERVICE', 'HEALTHY', 'TOTAL', 'BALANCER', 'ROUTED'],
          services.map((s) => [s.name, String(s.healthy), String(s.total), s.balancer ?? '-', s.routed ? 'yes' : 'no']),
        ),
      );
      return 0;
    }
    case 'endpoints': {
      const name = args[0];
      if (!name) {
        o.err('switchyard endpoints: name the service, e.g. switchyard endpoints demo');
        return 2;
      }
      const service = await client.get<ServiceJson>(`/api/v1/services/${encodeURIComponent(name)}`);
      print(service.endpoints, () => endpointTable(service.endpoints));
      return 0;
    }
    case 'drain':
    case 'undrain': {
      const endpoint = args[0];
      if (!endpoint) {
        o.err(`switchyard ${command}: name the endpoint as address:port or instance id, e.g. switchyard ${command} 127.0.0.1:9101`);
        return 2;
      }
      const matched = await client.post<EndpointJson[]>(`/api/v1/endpoints/${command}`, { endpoint, service: o.service });
      print(matched, () => `${command === 'drain' ? 'drained' : 'undrained'} ${matched.length} endpoint(s):\n${endpointTable(matched)}`);
      return 0;
    }
    case 'readiness': {
      const action = args[0];
      if (action !== 'fail' && action !== 'restore') {
        o.err('switchyard readiness: say fail (make /readyz answer 503 ahead of a restart) or restore, e.g. switchyard readiness fail');
        return 2;
      }
      const result = await client.post<{ ready: boolean; readinessFailed: boolean; notReadyReason: string | null }>(`/api/v1/readiness/${action}`);
      print(result, () => (result.ready ? 'ready: /readyz answers 200' : `not ready: /readyz answers 503 (${result.notReadyReason ?? 'unknown reason'}); requests are still served`));
      return 0;
    }
    case 'reload': {
      const result = await client.post<{ status: string }>('/api/v1/reload');
      print(result, () => 'configuration reloaded');
      return 0;
    }
    default:
      throw new Error(`not an admin command: ${command}`);
  }
}

function hostAndPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function endpointTable(endpoints: readonly EndpointJson[]): string {
  return formatTable(
    ['SERVICE', 'ENDPOINT', 'ID', 'HEALTH', 'STATE', 'IN-FLIGHT', 'WEIGHT', 'SOURCE'],
    endpoints.map((e) => [e.service, e.endpoint, e.id, e.health, e.drained ? 'drained' : e.available ? 'available' : 'unavailable', String(e.inFlight), String(e.weight), e.source]),
  );
}
