import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ID_PATTERN } from '../../src/modules/catalog/catalog.routes.ts';
import { createTokenService } from '../../src/platform/auth/tokens.ts';
import { loadConfig } from '../../src/platform/config/config.ts';
import { createHttpApp } from '../../src/platform/http/create-app.ts';
import type { FastView } from '../../src/platform/http/fast-reads.ts';
import { publicCacheControl } from '../../src/platform/http/http-cache.ts';
import { createLogger } from '../../src/platform/observability/logger.ts';
import { createMetrics } from '../../src/platform/observability/metrics.ts';
import { createRateLimitPolicy, memoryRateLimiterStore } from '../../src/platform/ratelimit/rate-limiter.ts';

/**
 * Scalemart's HTTP app in a process of its own: `createHttpApp` (its fast reads, rate limits,
 * metrics, request ids, authentication hooks, default Prometheus metrics), configured from the
 * environment as the monolith is, with one route, `GET /api/v1/products/:id`, answered from a Map of
 * the bodies and ETags Scalemart served. No modules, no database, no cache library, no background
 * work. Beside the monolith and bare Fastify it splits the monolith's extra CPU per request into its
 * request path and the process around it.
 *
 * Usage: node lab/references/http-app-alone.ts --port N --bodies products.json --etags etags.json
 * (the files of `references/bare-fastify.ts`: `{ "<id>": body }` and `{ "<id>": "<ETag>" }`).
 */
const { values } = parseArgs({ options: { port: { type: 'string' }, bodies: { type: 'string' }, etags: { type: 'string' } } });
if (!values.port || !values.bodies || !values.etags) {
  process.stderr.write('Usage: http-app-alone.ts --port N --bodies products.json --etags etags.json\n');
  process.exit(2);
}
const bodies = JSON.parse(readFileSync(values.bodies, 'utf8')) as Record<string, unknown>;
const etags = JSON.parse(readFileSync(values.etags, 'utf8')) as Record<string, string>;
const views = new Map<string, FastView>();
for (const [id, body] of Object.entries(bodies)) {
  const text = JSON.stringify(body);
  views.set(id, { etag: etags[id]!, body: text, length: Buffer.byteLength(text) });
}

const config = loadConfig(process.env);
const app = await createHttpApp({
  logger: createLogger(config.logLevel),
  metrics: createMetrics(),
  readiness: { started: () => true, check: async () => undefined },
  tokens: createTokenService({ secret: randomBytes(32).toString('hex'), ttlSeconds: config.jwtTtlSeconds }),
  resolveApiKey: async () => null,
  rateLimits: createRateLimitPolicy({ store: memoryRateLimiterStore, ...config.rateLimit }),
  bodyLimitBytes: config.bodyLimitBytes,
  version: 'lab',
});
const cacheControl = publicCacheControl(config.httpMaxAgeSeconds);
app.fastRead({ url: '/api/v1/products/:id', param: new RegExp(ID_PATTERN), cacheControl, read: (id) => views.get(id) });
// What the fast path does not answer (an unknown id) reaches Fastify.
app.get('/api/v1/products/:id', { schema: { hide: true } }, async (_request, reply) => reply.code(404).send({ status: 404, title: 'Not Found' }));
await app.ready();
const address = await app.listen({ host: '127.0.0.1', port: Number(values.port) });
process.stdout.write(`http app alone: ${views.size} bodies on ${address}\n`);

const close = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', close);
process.once('SIGINT', close);
// The lab holds our stdin open; when it ends, the lab is gone and nobody will stop us.
process.stdin.on('end', close).resume();
