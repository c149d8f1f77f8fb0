#!/usr/bin/env -S node --min-semi-space-size=16
// --min-semi-space-size=16: V8's young generation starts at its largest size (16 MiB a
// semi-space) instead of growing from 1 MiB. A proxy's garbage is short-lived per-request
// objects: a scavenge every ~1,600 requests instead of every ~550 collects as much with a third
// of the pauses, and fewer requests in flight at a scavenge are promoted to the old generation.
// Measured: docs/performance.md, "The young generation's size". The same flag is in package.json's
// start script; workers of cluster mode inherit it (cluster.fork passes process.execArgv).
import { runCommandLine } from './command-line.js';

/** The `switchyard` executable (package.json "bin"): runs the command line and exits with its code. */
runCommandLine(process.argv.slice(2), process.env, { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) }).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`switchyard: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
