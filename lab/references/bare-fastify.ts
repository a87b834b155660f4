import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

/**
 * The hot read path's ceiling on this machine: Fastify returning the same product JSON from a
 * Map, with nothing else (no auth, limits, cache, metrics or logging).
 * Usage: node lab/references/bare-fastify.ts <products.json>
 */
const products = new Map(Object.entries(JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Record<string, unknown>));
const app = Fastify();
app.get<{ Params: { id: string } }>('/api/v1/products/:id', async (request, reply) => {
  const product = products.get(request.params.id);
  return product ?? reply.code(404).send({ code: 'NOT_FOUND' });
});
const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`listening on ${address}\n`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
