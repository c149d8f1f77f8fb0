import { ConfigError } from '../config/config-error.js';
import { createProcessLog } from '../observability/logger.js';
import { Sidecar } from './sidecar.js';
import { parseSidecarArgs, SIDECAR_USAGE, SidecarUsageError, type SidecarRunConfig } from './sidecar-options.js';

/** Signals passed on to the app; SIGTERM and SIGINT stop the sidecar (which stops the app last). */
const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGHUP', 'SIGUSR1', 'SIGUSR2'];

/** `switchyard sidecar ...`: resolves with the process exit code. */
export async function runSidecar(argv: readonly string[]): Promise<number> {
  const dashDash = argv.indexOf('--');
  const flags = dashDash < 0 ? argv : argv.slice(0, dashDash);
  if (flags.includes('--help') || flags.includes('-h')) {
    process.stdout.write(`${SIDECAR_USAGE}\n`);
    return 0;
  }
  let config: SidecarRunConfig;
  try {
    config = await parseSidecarArgs(argv);
  } catch (err) {
    if (err instanceof SidecarUsageError) {
      process.stderr.write(`switchyard sidecar: ${err.message}\n\n${SIDECAR_USAGE}\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  // The whole logging section: level, maxBuffer; accessLog is applied by the sidecar's recorders.
  const log = createProcessLog({ level: config.logging.level, maxBuffer: config.logging.maxBuffer });
  const logger = log.logger;
  let sidecar: Sidecar;
  try {
    sidecar = await Sidecar.start(config, { log });
  } catch (err) {
    process.stderr.write(`switchyard sidecar: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  const stop = (signal: NodeJS.Signals) => void sidecar.stop(`received ${signal}`);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  for (const signal of FORWARDED_SIGNALS) process.on(signal, () => sidecar.forward(signal));
  const code = await sidecar.done;
  // Let the asynchronous logger write its last lines before the process exits.
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
  return code;
}
