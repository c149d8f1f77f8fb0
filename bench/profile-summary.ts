/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. `npm run bench -- --profile`):
 * self time by function, and by where the code lives (Switchyard, undici, node internals, …).
 * Also total (inclusive) time by function: the samples with that function anywhere on the
 * stack, each sample counted once per function, so a phase such as `initialLoad` or
 * `rebuildRoutes` shows its whole cost.
 * Usage: tsx bench/profile-summary.ts <file.cpuprofile> [top=30]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: profile-summary.ts <file.cpuprofile> [top]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfTime = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!;
  selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}

function area(url: string, name: string): string {
  if (url.includes('/dist/') || url.includes('/src/')) return 'switchyard';
  if (url.includes('node_modules/undici')) return 'undici';
  if (url.includes('node_modules/pino') || url.includes('node_modules/sonic-boom')) return 'pino';
  if (url.includes('node_modules/prom-client')) return 'prom-client';
  if (url.includes('node_modules')) return 'other packages';
  if (url.startsWith('node:_http') || url === 'node:http') return 'node:http';
  if (url.startsWith('node:')) return 'node internals (streams, net, timers, …)';
  if (name === '(garbage collector)') return 'gc';
  if (name === '(idle)' || name === '(program)') return name;
  return 'native / other';
}

const byFunction = new Map<string, number>();
const byArea = new Map<string, number>();
let total = 0;
for (const [id, us] of selfTime) {
  const n = byId.get(id)!;
  const { functionName, url, lineNumber } = n.callFrame;
  const key = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(node_modules|dist|src)\//, '$1/')}:${lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  const a = area(url, functionName);
  byArea.set(a, (byArea.get(a) ?? 0) + us);
  total += us;
}
const busy = total - (byArea.get('(idle)') ?? 0);
const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
process.stdout.write(
  `total ${(total / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s, idle ${((100 * (total - busy)) / total).toFixed(1)} % (percentages below: of busy time)\n\nby area:\n`,
);
for (const [a, us] of [...byArea].filter(([a]) => a !== '(idle)').sort((x, y) => y[1] - x[1])) process.stdout.write(`  ${pct(us)}  ${a}\n`);
process.stdout.write(`\ntop functions (self time):\n`);
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const keyOf = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/(node_modules|dist|src)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
const inclusive = new Map<string, number>();
for (const [id, us] of selfTime) {
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const n = byId.get(at)!;
    if (n.callFrame.functionName === '(root)' || n.callFrame.functionName === '(idle)') continue;
    const key = keyOf(n);
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + us);
  }
}
for (const [k, us] of [...byFunction].sort((x, y) => y[1] - x[1]).slice(0, Number(topArg ?? 30))) {
  if (k.startsWith('(idle)')) continue;
  process.stdout.write(`  ${pct(us)}  ${k}\n`);
}
process.stdout.write(`\ntop functions (total time, callees included):\n`);
for (const [k, us] of [...inclusive].sort((x, y) => y[1] - x[1]).slice(0, Number(topArg ?? 30))) process.stdout.write(`  ${pct(us)}  ${k}\n`);
