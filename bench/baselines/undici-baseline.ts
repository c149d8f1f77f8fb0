/**
 * Benchmark baseline: the smallest reasonable reverse proxy on undici — a node:http server,
 * one undici Pool per target (same connection count as Switchyard's default, pipelining 1),
 * hop-by-hop headers dropped, bodies streamed both ways with `pool.stream`. No routing, no
 * X-Forwarded-*, no request id: the floor Switchyard's extra work is measured against.
 * Usage: tsx bench/baselines/undici-baseline.ts <port> <target>[,<target>...]
 */
import { createServer, type IncomingMessage } from 'node:http';
import { Pool, type Dispatcher } from 'undici';

const [portArg, targetsArg] = process.argv.slice(2);
if (!portArg || !targetsArg) {
  process.stderr.write('usage: undici-baseline.ts <port> <http://host:port>[,...]\n');
  process.exit(2);
}
const pools = targetsArg.split(',').map((t) => new Pool(t, { connections: 128, pipelining: 1 }));
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

function upstreamHeaders(req: IncomingMessage): string[] {
  const raw = req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

let next = 0;
createServer((req, res) => {
  const pool = pools[next]!;
  next = next + 1 === pools.length ? 0 : next + 1;
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool.stream(
    { path: req.url!, method: req.method as Dispatcher.HttpMethod, headers: upstreamHeaders(req), body: hasBody ? req : null },
    ({ statusCode, headers }) => {
      for (const name of HOP_BY_HOP) delete headers[name];
      res.writeHead(statusCode, headers as Record<string, string | string[]>);
      return res;
    },
    (err) => {
      if (err === null) return;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`bad gateway: ${err.message}`);
    },
  );
}).listen(Number(portArg), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
