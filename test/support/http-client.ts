import { request as httpRequest, type Agent, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';

export interface ClientResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One request over a fresh connection (node:http, no keep-alive) unless an agent is given, so
 * each test request is independent of pooled connections. Resolves with the whole body as text.
 */
export function fetchText(
  url: string,
  options: { method?: string; headers?: OutgoingHttpHeaders; body?: string | Buffer; agent?: Agent; /** Source address, e.g. "127.0.0.2" to come from another loopback address. */ localAddress?: string } = {},
): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false, localAddress: options.localAddress }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

export async function fetchJson<T = Record<string, unknown>>(url: string, options: Parameters<typeof fetchText>[1] = {}): Promise<ClientResponse & { json: T }> {
  const r = await fetchText(url, options);
  return { ...r, json: JSON.parse(r.body) as T };
}
