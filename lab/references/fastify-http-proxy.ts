import { parseArgs } from 'node:util';
import proxy from '@fastify/http-proxy';
import Fastify from 'fastify';

/**
 * The common Node gateway, the peer the Scalemart gateway is measured against: Fastify with
 * @fastify/http-proxy (undici underneath, keep-alive to the upstream by default) forwarding every
 * path to one upstream, and nothing else: no auth, limits, logging or metrics.
 *
 * Usage: node lab/references/fastify-http-proxy.ts --port N --upstream http://127.0.0.1:M
 */
const { values } = parseArgs({ options: { port: { type: 'string' }, upstream: { type: 'string' } } });
if (!values.port || !values.upstream) {
  process.stderr.write('Usage: fastify-http-proxy.ts --port N --upstream http://host:port\n');
  process.exit(2);
}

const app = Fastify({ logger: false });
await app.register(proxy, { upstream: values.upstream, http2: false });
const address = await app.listen({ host: '127.0.0.1', port: Number(values.port) });
process.stdout.write(`fastify-http-proxy: ${address} → ${values.upstream}\n`);

const close = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', close);
process.once('SIGINT', close);
// The lab holds our stdin open; when it ends, the lab is gone and nobody will stop us.
process.stdin.on('end', close).resume();
