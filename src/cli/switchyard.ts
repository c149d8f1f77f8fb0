#!/usr/bin/env node
import { runCommandLine } from './command-line.js';

/** The `switchyard` executable (package.json "bin"): runs the command line and exits with its code. */
runCommandLine(process.argv.slice(2), process.env, { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) }).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`switchyard: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
