import { ClusterPrimary, workerCount } from '../cluster-mode/primary.js';
import { attachToPrimary, isClusterWorker } from '../cluster-mode/worker.js';
import { Switchyard } from '../main.js';
import { SWITCHYARD_VERSION } from '../observability/build-info.js';
import { loadStartConfig, startFailureMessage } from '../startup-load.js';

/**
 * `switchyard start <config>`: runs the router until SIGTERM/SIGINT (exit 0 once drained; a
 * second one skips the rest of shutdown.drainDelay); SIGHUP reloads. With `workers` > 1 this
 * process becomes the cluster primary. Resolves with the exit code only when the router cannot
 * start (1).
 */
export async function runStart(file: string): Promise<number> {
  const worker = isClusterWorker();
  let app: Switchyard;
  try {
    if (!worker) {
      // `workers` > 1: this process becomes the cluster primary; the workers run the router.
      const { config } = await loadStartConfig(file);
      if (workerCount(config) > 1) return await new ClusterPrimary(file, config).run();
    }
    app = await Switchyard.start(file, { internalAdmin: worker });
  } catch (err) {
    process.stderr.write(`${startFailureMessage(err)}\n`);
    return 1;
  }
  const banner = [`Switchyard ${SWITCHYARD_VERSION} is routing (config ${file})`];
  for (const a of app.addresses) banner.push(`  listener ${a.name}: ${a.url} (${a.protocols.join(', ')})`);
  const admin = app.adminAddress;
  if (admin) banner.push(`  admin:            http://${admin.address}:${admin.port}/ (status page, /metrics, /api/v1)`);
  const metrics = app.metricsAddress;
  if (metrics) banner.push(`  metrics:          http://${metrics.address}:${metrics.port}/metrics (/healthz, /readyz)`);
  const first = app.addresses[0];
  if (first) banner.push(`Try: curl -i ${first.url.replace('0.0.0.0', '127.0.0.1')}/`);
  if (!worker) process.stderr.write(`${banner.join('\n')}\n`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      // A second SIGTERM/SIGINT (or shutdown message from the primary): the operator does not want to wait.
      if (app.skipDrainDelay()) app.logger.info({ signal }, 'second stop signal: skipping the rest of the drain delay; stopped accepting');
      else app.logger.info({ signal }, 'stop signal ignored: already stopping (in-flight requests finish within shutdown.gracePeriod)');
      return;
    }
    stopping = true;
    const { drainDelay, gracePeriod } = app.currentConfig.shutdown;
    app.logger.info({ signal, drainDelayMs: drainDelay, gracePeriodMs: gracePeriod }, 'shutdown requested');
    app.shutdown().then(
      () => {
        app.logger.info('shutdown complete');
        // Write out buffered log lines (the destination is asynchronous) before exiting.
        app.logger.flush(() => process.exit(0));
      },
      (err: unknown) => {
        app.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  const reload = (signal: string) => {
    app.logger.info({ signal }, 'reloading the configuration');
    app.reload().catch(() => {
      /* reload() logged the ConfigError and recorded it (admin API, metrics); the running configuration keeps serving */
    });
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  if (worker) attachToPrimary(app, { reload: () => reload('SIGHUP (from the cluster primary)'), stop });
  return new Promise<number>(() => {
    /* runs until a signal */
  });
}
