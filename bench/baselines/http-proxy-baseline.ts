/**
 * Benchmark baseline: node-http-proxy as it is usually deployed, with a keep-alive agent
 * (without one it opens a connection per request and would be an unfair straw man).
 * Targets rotate round robin. Usage: tsx bench/baselines/http-proxy-baseline.ts <port> <target>[,<target>...]
 */
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';

const [portArg, targetsArg] = process.argv.slice(2);
if (!portArg || !targetsArg) {
  process.stderr.write('usage: http-proxy-baseline.ts <port> <http://host:port>[,...]\n');
  process.exit(2);
}
const targets = targetsArg.split(',');
const agent = new Agent({ keepAlive: true, maxSockets: 128 });
const proxy = httpProxy.createProxyServer({ agent, xfwd: true });
proxy.on('error', (err, _req, res) => {
  if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
  res.end(`bad gateway: ${err.message}`);
});
let next = 0;
createServer((req, res) => {
  const target = targets[next]!;
  next = next + 1 === targets.length ? 0 : next + 1;
  proxy.web(req, res, { target });
}).listen(Number(portArg), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
