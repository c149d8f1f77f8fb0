/**
 * Benchmark peer: @fastify/http-proxy (Fastify with @fastify/reply-from, undici underneath) as
 * its README shows it, proxying every path to the first target with a 128-connection pool.
 * No logging. Usage: tsx bench/baselines/fastify-proxy-baseline.ts <port> <target>[,<target>...]
 */
import proxy from '@fastify/http-proxy';
import Fastify from 'fastify';

const [portArg, targetsArg] = process.argv.slice(2);
if (!portArg || !targetsArg) {
  process.stderr.write('usage: fastify-proxy-baseline.ts <port> <http://host:port>[,...]\n');
  process.exit(2);
}
const app = Fastify({ logger: false });
await app.register(proxy, {
  upstream: targetsArg.split(',')[0]!,
  undici: { connections: 128, pipelining: 1 },
  // Request bodies are streamed to the upstream, not parsed.
  preHandler: undefined,
});
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
await app.listen({ port: Number(portArg), host: '127.0.0.1' });
process.on('SIGTERM', () => process.exit(0));
