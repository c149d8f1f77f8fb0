// A small HTTP app for sidecar tests and the demo, run as a real process by the sidecar.
// Port from $PORT. Endpoints:
//   GET /health          200, or 503 after /sick
//   GET /hello           {"instance", "port", "pid"}
//   GET /slow?id=x       held until GET /release?id=x (or /release-all)
//   GET /crash           exits with code 3
//   GET /sick, /well     turn /health to 503 / 200
//   GET /grow?mb=n       keeps n MiB more in memory (touched, so it is resident)
//   GET /call?url=...    fetches the URL (through the egress listener) and returns its body; like an
//                        instrumented app, it passes on the traceparent/tracestate it received
//   GET /spin?ms=n       busy-loops n ms, then answers its CPU seconds and wall seconds
//   GET /spawn?n=k       starts up to k sleeping child processes (bounded), one at a time,
//                        stopping at the first that cannot start; answers how many started
// Env: CRASH_ON_START=1 exits at once with code 3; APP_PROTOCOL=h2c serves cleartext HTTP/2
// (prior knowledge) instead of HTTP/1.1. /hello answers the HTTP version it was asked in.
import { spawn } from 'node:child_process';
import { createServer as createHttp1Server } from 'node:http';
import { createServer as createH2cServer } from 'node:http2';

const port = Number(process.env.PORT);
const instance = process.env.SWITCHYARD_INSTANCE ?? '0';
if (process.env.CRASH_ON_START === '1') {
  console.error(`instance ${instance}: crashing on start as asked`);
  process.exit(3);
}

let sick = false;
const held = new Map();
const hoard = [];
const sleepers = [];

/** Starts one `sleep` child; resolves with an error code when it could not start. */
function startSleeper() {
  return new Promise((resolve) => {
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    child.once('spawn', () => {
      sleepers.push(child);
      resolve(null);
    });
    child.once('error', (err) => resolve(err.code ?? String(err)));
  });
}

const createServer = process.env.APP_PROTOCOL === 'h2c' ? createH2cServer : createHttp1Server;
const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://app');
  const json = (status, body) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  switch (url.pathname) {
    case '/health':
      return json(sick ? 503 : 200, { healthy: !sick });
    case '/hello':
      return json(200, { instance, port, pid: process.pid, nodeOptions: process.env.NODE_OPTIONS ?? '', httpVersion: req.httpVersion, traceparent: req.headers.traceparent ?? null });
    case '/slow': {
      const id = url.searchParams.get('id') ?? 'x';
      console.log(`slow request ${id} held`);
      held.set(id, () => json(200, { released: id, instance }));
      return;
    }
    case '/release': {
      const id = url.searchParams.get('id') ?? 'x';
      const release = held.get(id);
      held.delete(id);
      if (release) release();
      return json(release ? 200 : 404, { released: Boolean(release) });
    }
    case '/release-all': {
      const n = held.size;
      for (const release of held.values()) release();
      held.clear();
      return json(200, { released: n });
    }
    case '/held':
      return json(200, { held: held.size });
    case '/crash':
      console.error(`instance ${instance}: crashing as asked`);
      res.end();
      return process.exit(3);
    case '/sick':
      sick = true;
      return json(200, { sick });
    case '/well':
      sick = false;
      return json(200, { sick });
    case '/grow': {
      const mb = Number(url.searchParams.get('mb') ?? '64');
      for (let i = 0; i < mb; i++) hoard.push(Buffer.alloc(1024 * 1024, 1));
      return json(200, { hoardMiB: hoard.length });
    }
    case '/spin': {
      const ms = Math.min(Number(url.searchParams.get('ms') ?? '1000'), 30_000);
      const cpu0 = process.cpuUsage();
      const start = process.hrtime.bigint();
      while (Number(process.hrtime.bigint() - start) / 1e6 < ms);
      const cpu = process.cpuUsage(cpu0);
      return json(200, { cpuSeconds: (cpu.user + cpu.system) / 1e6, wallSeconds: Number(process.hrtime.bigint() - start) / 1e9 });
    }
    case '/spawn': {
      const max = Math.min(Number(url.searchParams.get('n') ?? '10'), 256);
      (async () => {
        let started = 0;
        let error = null;
        while (started < max) {
          error = await startSleeper();
          if (error !== null) break;
          started++;
        }
        json(200, { started, error, pids: sleepers.map((c) => c.pid) });
      })();
      return;
    }
    case '/call': {
      const propagated = {};
      for (const name of ['traceparent', 'tracestate']) if (typeof req.headers[name] === 'string') propagated[name] = req.headers[name];
      fetch(url.searchParams.get('url'), { headers: propagated }).then(
        async (r) => json(200, { status: r.status, body: await r.text() }),
        (err) => json(502, { error: String(err) }),
      );
      return;
    }
    default:
      return json(404, { error: 'not found' });
  }
});

server.listen(port, '127.0.0.1', () => console.log(`instance ${instance} listening on ${port}`));

process.on('SIGTERM', () => {
  console.log(`instance ${instance} received SIGTERM`);
  server.close(() => process.exit(0));
  server.closeIdleConnections?.();
});
process.on('SIGHUP', () => console.log(`instance ${instance} received SIGHUP`));
