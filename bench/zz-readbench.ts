import { fork } from 'node:child_process';
import { Pool } from 'undici';
const child = fork('bench/lib/consul-emulator-process.ts', [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const call = (m: object) => new Promise<any>((r) => { child.once('message', (x: any) => r(x.result)); child.send({ ...m, id: 1 }); });
const { address } = await call({ cmd: 'setup', services: 10000, instances: 2 });
const N = 10000;
async function run(label: string, one: (pool: Pool, i: number) => Promise<unknown>) {
  const pool = new Pool(`http://${address}`, { connections: 6, pipelining: 1, keepAliveTimeout: 60000 });
  let next = 0;
  const c0 = process.cpuUsage(); const t0 = performance.now();
  await Promise.all(Array.from({ length: 6 }, async () => { while (next < N) await one(pool, next++); }));
  const c = process.cpuUsage(c0);
  console.log(label, 'wall ms', Math.round(performance.now() - t0), 'user ms', Math.round(c.user / 1000), 'sys ms', Math.round(c.system / 1000));
  await pool.close();
}
const path = (i: number) => `/v1/health/service/svc-${i}?stale=`;
for (let k = 0; k < 2; k++) {
await run('request+text', async (pool, i) => { const r = await pool.request({ method: 'GET', path: path(i), headers: { accept: 'application/json' } }); return JSON.parse(await r.body.text()); });
await run('dispatch', (pool, i) => new Promise((resolve, reject) => {
  const chunks: Buffer[] = [];
  pool.dispatch({ method: 'GET', path: path(i), headers: { accept: 'application/json' } }, {
    onConnect() {}, onHeaders() { return true; }, onData(c: Buffer) { chunks.push(c); return true; },
    onComplete() { resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))); }, onError(e: Error) { reject(e); },
  } as any);
}));
}
child.send({ cmd: 'close', id: 2 });
