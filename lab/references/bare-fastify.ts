import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';

/**
 * The hot read path's ceiling on this machine: Fastify returning the same product JSON from a
 * Map, and nothing else (no auth, rate limits, cache, metrics, request ids or logging). It returns
 * the parsed object, as an ordinary route would, so Fastify serialises it on every request.
 *
 * Usage: node lab/references/bare-fastify.ts --port N --bodies products.json [--by-url] [--pages pages.json] [--etags etags.json]
 * where products.json is `{ "<id>": <the body Scalemart served for GET /api/v1/products/<id>> }`,
 * or with --by-url `{ "<path and query>": <the body Scalemart served for GET <path and query>> }`
 * (any read, list pages included), answered on every path by the exact request URL.
 * By id, `--pages` adds GET /api/v1/products answering `{ "<path and query>": body }` by URL, and
 * `--etags` (`{ "<id>": "<ETag>" }`) answers a product GET whose If-None-Match is that exact tag
 * with a bare 304 carrying the tag: the least a conditional GET can cost.
 */
const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    bodies: { type: 'string' },
    'by-url': { type: 'boolean', default: false },
    pages: { type: 'string' },
    etags: { type: 'string' },
  },
});
if (!values.port || !values.bodies) {
  process.stderr.write('Usage: bare-fastify.ts --port N --bodies products.json [--by-url] [--pages pages.json] [--etags etags.json]\n');
  process.exit(2);
}
const readMap = <T>(file: string) => new Map(Object.entries(JSON.parse(readFileSync(file, 'utf8')) as Record<string, T>));
const bodies = readMap<unknown>(values.bodies);
const notFound = { status: 404, title: 'Not Found' };

const app = Fastify({ logger: false });
if (values['by-url']) {
  app.get('/*', async (request, reply) => bodies.get(request.url) ?? reply.code(404).send(notFound));
} else {
  const etags = values.etags ? readMap<string>(values.etags) : undefined;
  app.get<{ Params: { id: string } }>('/api/v1/products/:id', async (request, reply) => {
    const ifNoneMatch = request.headers['if-none-match'];
    if (ifNoneMatch !== undefined && etags?.get(request.params.id) === ifNoneMatch) return reply.code(304).header('etag', ifNoneMatch).send();
    return bodies.get(request.params.id) ?? reply.code(404).send(notFound);
  });
  if (values.pages) {
    const pages = readMap<unknown>(values.pages);
    app.get('/api/v1/products', async (request, reply) => pages.get(request.url) ?? reply.code(404).send(notFound));
  }
}

const address = await app.listen({ host: '127.0.0.1', port: Number(values.port) });
process.stdout.write(`bare fastify: ${bodies.size} bodies on ${address}\n`);

const close = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', close);
process.once('SIGINT', close);
// The lab holds our stdin open; when it ends, the lab is gone and nobody will stop us.
process.stdin.on('end', close).resume();
