import { pino } from 'pino';
import { checkStartup, startFailureMessage } from '../startup-load.js';
import type { CommandLineOutput } from './command-line.js';

/**
 * `switchyard check <config>`: start's load path without binding a port (startup-load.ts):
 * exit 0 with what it found (the persisted registry view too, when registry.persistView keeps
 * one), or 1 with the message start would print. Warnings (start would log
 * them and serve) go to standard error and leave the exit code 0.
 */
export async function runCheck(file: string, env: NodeJS.ProcessEnv, io: CommandLineOutput): Promise<number> {
  try {
    const s = await checkStartup(file, pino({ level: 'silent' }), env);
    io.out(
      [
        `${file}: OK`,
        `  listeners: ${s.listeners} (${s.certificates} with TLS certificates), routes: ${s.routes}`,
        `  registry: ${s.registry} (${s.services} service(s), ${s.instances} instance(s))`,
        `  operator state: ${s.stateStore}`,
        ...(s.registryView === null ? [] : [`  registry view: ${s.registryView}`]),
        '',
      ].join('\n'),
    );
    for (const w of s.warnings) io.err(`${file}: warning: ${w}\n`);
    return 0;
  } catch (err) {
    io.err(`${startFailureMessage(err)}\n`);
    return 1;
  }
}
