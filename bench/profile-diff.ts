/**
 * Compares two V8 .cpuprofiles function by function, in microseconds of self time per request:
 * where one build (or one proxy) spends more than the other. Both profiles should come from the
 * same load (the same number of requests); idle time is left out.
 * Usage: tsx bench/profile-diff.ts <requests> <a.cpuprofile> <b.cpuprofile> [top=40]
 * Prints "a − b, a, b, function file:line", largest differences first.
 */
import { readFileSync } from 'node:fs';

interface Profile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

const [requestsArg, fileA, fileB, topArg] = process.argv.slice(2);
if (!requestsArg || !fileA || !fileB) {
  process.stderr.write('usage: profile-diff.ts <requests> <a.cpuprofile> <b.cpuprofile> [top]\n');
  process.exit(2);
}
const requests = Number(requestsArg);
const top = Number(topArg ?? 40);

/** Self time (µs) by "function file:line". */
function selfTimes(file: string): Map<string, number> {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const times = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = byId.get(profile.samples[i]!)!;
    if (frame.functionName === '(idle)') continue;
    const where = frame.url.replace(/.*node_modules\//, '').replace(/.*\/(dist|src)\//, '$1/');
    const key = `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`;
    times.set(key, (times.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  return times;
}

const a = selfTimes(fileA);
const b = selfTimes(fileB);
const total = (m: Map<string, number>): number => [...m.values()].reduce((s, t) => s + t, 0) / requests;
process.stdout.write(`busy µs per request: a ${total(a).toFixed(1)}, b ${total(b).toFixed(1)}\n`);
const rows = [...new Set([...a.keys(), ...b.keys()])].map((key) => ({ key, a: (a.get(key) ?? 0) / requests, b: (b.get(key) ?? 0) / requests }));
rows.sort((x, y) => Math.abs(y.a - y.b) - Math.abs(x.a - x.b));
for (const r of rows.slice(0, top)) {
  process.stdout.write(`${(r.a - r.b).toFixed(2).padStart(7)} ${r.a.toFixed(2).padStart(7)} ${r.b.toFixed(2).padStart(7)}  ${r.key}\n`);
}
