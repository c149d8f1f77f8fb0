import { openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Switchyard } from '../../src/main.js';
import { LogDestination } from '../../src/observability/log-destination.js';
import { createProcessLog } from '../../src/observability/logger.js';

/**
 * Runs Switchyard alone in a child process for the soak test, so its memory is measured
 * without the load generator's. Messages: "measure" → {type: "memory", ...memoryUsage()} after
 * garbage collection (run with --expose-gc); "stop" → graceful close and exit.
 */
const configFile = process.argv[2];
if (configFile === undefined || process.send === undefined) throw new Error('usage: fork proxy-process.ts <config file> (with an IPC channel)');
// Logs (the access log included) go asynchronously to a file beside the config, as in production.
const log = createProcessLog({ level: 'warn', destination: new LogDestination(openSync(join(dirname(configFile), 'proxy.log'), 'w'), 16 * 1024 * 1024) });
const app = await Switchyard.start(configFile, { log });
process.send({ type: 'ready', port: app.addresses[0]!.port });

const gc = (globalThis as { gc?: () => void }).gc;
process.on('message', (message: unknown) => {
  if (message === 'measure') {
    gc?.();
    setTimeout(() => {
      gc?.();
      process.send!({ type: 'memory', ...process.memoryUsage() });
    }, 200);
  } else if (message === 'stop') {
    void app.close(1_000).then(() => process.exit(0));
  }
});
