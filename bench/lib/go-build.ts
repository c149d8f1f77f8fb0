import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { findBinary } from './child-process.js';

/** Where Debian and the Go distribution put the toolchain when it is not on the PATH. */
const GO_FALLBACKS = ['/usr/lib/go/bin/go', '/usr/local/go/bin/go'];

/** What to say when Go is missing, naming the program that needed it. */
export function goMissing(source: string): string {
  return `Go is not installed (Debian/Ubuntu: apt-get install golang-go); ${source} is built at run time`;
}

/** The installed `go`, or null. */
export function findGo(): Promise<string | null> {
  return findBinary('go', GO_FALLBACKS);
}

/** Builds in flight or done, by output path (a run builds each program once). */
const builds = new Map<string, Promise<string>>();

/**
 * Builds one Go program of bench/ (`source`: a main.go relative to `root`, standard library only:
 * nothing is downloaded) to `out` with the installed toolchain. Resolves with the binary's path;
 * rejects with the compiler's output. No binary is kept in the repository.
 */
export function buildGoProgram(goBinary: string, root: string, source: string, out: string): Promise<string> {
  let build = builds.get(out);
  if (build === undefined) {
    build = mkdir(dirname(out), { recursive: true }).then(
      () =>
        new Promise<string>((resolve, reject) => {
          const env = {
            ...process.env,
            GOCACHE: process.env.GOCACHE ?? join(tmpdir(), 'switchyard-bench-go-cache'),
            GOPROXY: 'off',
            GOTOOLCHAIN: 'local',
            GOFLAGS: '',
          };
          execFile(goBinary, ['build', '-o', out, join(root, source)], { env, cwd: dirname(out) }, (err, _stdout, stderr) => {
            if (err) reject(new Error(`go build of ${source} failed: ${stderr.trim() || err.message}`));
            else resolve(out);
          });
        }),
    );
    builds.set(out, build);
  }
  return build;
}
