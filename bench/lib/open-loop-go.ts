import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildGoProgram, findGo, goMissing } from './go-build.js';
import { checkOpenLoopOptions, percentiles, requestBytes, type OpenLoopOptions, type OpenLoopResult } from './open-loop.js';

/** The Go generator's source, relative to the project root. */
const SOURCE = 'bench/generators/open-loop/main.go';

/** What bench/generators/open-loop prints: counts and times; samples go to a file. */
interface GoOpenLoopOutput {
  scheduled: number;
  completed: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  late: number;
  waitedForConnection: number;
  connectionsOpened: number;
  startEpochMs: number;
  intervalMs: number;
  lastResponseMs: number;
  wallSeconds: number;
  cpuSeconds: number;
  errorSamples: string[] | null;
}

/**
 * The open-loop generator of bench/lib/open-loop.ts, run as a Go process
 * (bench/generators/open-loop/main.go: same schedule, same accounting, same percentiles, which
 * are computed here from its samples). Its own pauses are far below a JavaScript generator's on
 * a busy two-core machine (no shared event loop, sub-millisecond GC), so the direct path's tail,
 * against which a proxy's added latency is read, is the upstream's and the machine's rather than
 * the generator's. Built once per scratch folder.
 */
export class GoOpenLoop {
  private constructor(
    private readonly binary: string,
    private readonly workDir: string,
  ) {}

  /** Builds the generator into `workDir`; a string says why it cannot be used (Go missing, build failed). */
  static async build(root: string, workDir: string): Promise<GoOpenLoop | string> {
    const go = await findGo();
    if (go === null) return goMissing(`the generator ${SOURCE}`);
    try {
      return new GoOpenLoop(await buildGoProgram(go, root, SOURCE, join(workDir, 'open-loop-go', 'open-loop')), workDir);
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** Runs one load; resolves like runOpenLoop (samples included when `keepSamples`). */
  async run(options: OpenLoopOptions): Promise<OpenLoopResult> {
    const { url, connectionCount } = checkOpenLoopOptions(options);
    const dir = await mkdtemp(join(this.workDir, 'open-loop-run-'));
    try {
      const requestFile = join(dir, 'request');
      const samplesFile = join(dir, 'samples');
      await writeFile(requestFile, requestBytes(url, options.request));
      const duration = options.maxRequests === undefined ? options.durationSeconds : Math.min(options.durationSeconds, options.maxRequests / options.rate);
      const args = [
        '-url', `http://${url.host}`,
        '-request', requestFile,
        '-rate', String(options.rate),
        '-duration', String(duration),
        '-connections', String(connectionCount),
        '-timeout-ms', String(options.timeoutMs ?? 10_000),
        '-late-ms', String(options.lateMs ?? 1),
        '-samples', samplesFile,
      ];
      const stdout = await new Promise<string>((resolve, reject) => {
        execFile(this.binary, args, { maxBuffer: 1 << 20 }, (err, out, stderr) => {
          if (err) reject(new Error(`the Go open-loop generator failed: ${stderr.trim() || err.message}`));
          else resolve(out);
        });
      });
      const out = JSON.parse(stdout) as GoOpenLoopOutput;
      const raw = await readFile(samplesFile);
      if (raw.length !== out.scheduled * 16) throw new Error(`the Go open-loop generator wrote ${raw.length} bytes of samples for ${out.scheduled} requests (expected ${out.scheduled * 16})`);
      const all = new Float64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
      const latency = all.subarray(0, out.scheduled);
      const sendLag = all.subarray(out.scheduled);
      const result: OpenLoopResult = {
        rate: options.rate,
        scheduled: out.scheduled,
        completed: out.completed,
        ok: out.ok,
        non2xx: out.non2xx,
        errors: out.errors,
        timeouts: out.timeouts,
        achievedRps: out.completed / Math.max((out.scheduled * out.intervalMs) / 1000, out.lastResponseMs / 1000),
        latency: percentiles(latency),
        sendLag: percentiles(sendLag),
        late: out.late,
        waitedForConnection: out.waitedForConnection,
        generatorCpu: {
          seconds: out.cpuSeconds,
          percentOfCore: (100 * out.cpuSeconds) / out.wallSeconds,
          microsPerRequest: (out.cpuSeconds * 1e6) / Math.max(1, out.completed),
        },
        connectionsOpened: out.connectionsOpened,
        startEpochMs: out.startEpochMs,
        intervalMs: out.intervalMs,
        errorSamples: out.errorSamples ?? [],
      };
      if (options.keepSamples) result.samples = { latency: Float64Array.from(latency), sendLag: Float64Array.from(sendLag) };
      return result;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
