import { ConsulEmulator, type ConsulEmulatorOptions } from './consul-emulator.js';
import { startProxy, type ProxyHarness } from './proxy-harness.js';

export interface ConsulProxyOptions {
  /** Top-level config besides listeners/admin/registry (routes, services, ...). */
  config?: Record<string, unknown>;
  /** Fields of `registry:` besides type and address (token, tags, wait, ...). */
  registry?: Record<string, unknown>;
  emulator?: ConsulEmulatorOptions;
  /** Use this running emulator instead of starting one. */
  consul?: ConsulEmulator;
}

export interface ConsulProxyHarness extends ProxyHarness {
  consul: ConsulEmulator;
}

/** Registry settings that keep tests quick: short waits and backoff. */
export const FAST_CONSUL_REGISTRY = {
  wait: '5s',
  backoff: { initial: '50ms', max: '500ms' },
  startTimeout: '2s',
};

/** Starts a Consul emulator (unless given) and the real proxy on a `registry: consul` config. */
export async function startConsulProxy(options: ConsulProxyOptions = {}): Promise<ConsulProxyHarness> {
  const consul = options.consul ?? (await ConsulEmulator.start(options.emulator));
  try {
    const proxy = await startProxy({
      config: {
        ...options.config,
        registry: { type: 'consul', address: consul.address, ...FAST_CONSUL_REGISTRY, ...options.registry },
      },
    });
    return {
      ...proxy,
      consul,
      close: async () => {
        await proxy.close();
        if (!options.consul) await consul.close();
      },
    };
  } catch (err) {
    if (!options.consul) await consul.close();
    throw err;
  }
}
