/**
 * `npm run demo:consul`: a Consul emulator with a few registered instances, and the router
 * on config/consul-demo.yaml reading them, so tag routing can be watched live.
 */
import { Switchyard } from '../src/main.js';
import { ConsulEmulator } from '../test/support/consul-emulator.js';
import { startUpstream, type TestUpstream } from '../test/support/test-upstream.js';

const CONFIG = 'config/consul-demo.yaml';

async function main(): Promise<void> {
  const consul = await ConsulEmulator.start();
  const upstreams: TestUpstream[] = await Promise.all(['api-1', 'api-2', 'shop-1', 'docs-1'].map((name) => startUpstream(name)));
  const [api1, api2, shop1, docs1] = upstreams as [TestUpstream, TestUpstream, TestUpstream, TestUpstream];
  const ttl = { TTL: '24h', Status: 'passing' as const };
  consul.register({ Name: 'api', ID: 'api-1', Address: '127.0.0.1', Port: api1.port, Tags: ['urlprefix-/api strip=/api'], Weights: { Passing: 2, Warning: 1 }, Check: ttl });
  consul.register({ Name: 'api', ID: 'api-2', Address: '127.0.0.1', Port: api2.port, Tags: ['urlprefix-/api strip=/api'], Check: ttl });
  // No Address: the instance is reached at its node's address (127.0.0.1).
  consul.register({ Name: 'shop', ID: 'shop-1', Port: shop1.port, Tags: ['urlprefix-shop.localhost/'], Check: ttl });

  process.env.CONSUL_HTTP_ADDR = consul.address;
  let app: Switchyard;
  try {
    app = await Switchyard.start(CONFIG);
  } catch (err) {
    process.stderr.write(`consul demo: cannot start the router: ${(err as Error).message}\n`);
    await Promise.all([consul.close(), ...upstreams.map((u) => u.close())]);
    process.exit(1);
  }
  const proxy = app.addresses[0]!.url;
  const c = consul.url;
  process.stderr.write(
    [
      '',
      `Consul emulator: ${c}   (services: api x2, shop x1; docs-1 runs but is not registered)`,
      `Router:          ${proxy}   (config ${CONFIG}, routes from urlprefix- tags)`,
      '',
      'Try:',
      `  curl -s ${proxy}/api/hello                       # api-1 and api-2, weights 2:1, "/api" stripped`,
      `  curl -s -H 'Host: shop.localhost' ${proxy}/cart  # shop-1, found through its node address`,
      `  curl -s ${c}/v1/health/service/api | head -c 300; echo`,
      '',
      'Change Consul and watch routing follow (within a second):',
      `  curl -X PUT '${c}/v1/agent/service/maintenance/api-2?enable=true&reason=demo'   # drain api-2`,
      `  curl -X PUT '${c}/v1/agent/check/warn/service:api-1'                          # api-1 warning: Warning weight`,
      `  curl -X PUT ${c}/v1/agent/service/register -d '{"Name":"docs","ID":"docs-1","Address":"127.0.0.1","Port":${docs1.port},"Tags":["urlprefix-/docs"]}'`,
      `  curl -s ${proxy}/docs/readme                      # new tag route, live`,
      `  curl -X PUT ${c}/v1/agent/service/deregister/docs-1                          # and gone again`,
      '',
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );

  const stop = () => {
    void (async () => {
      await app.close(1_000);
      await Promise.all([consul.close(), ...upstreams.map((u) => u.close())]);
      process.exit(0);
    })();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

void main();
