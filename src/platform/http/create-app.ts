import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import type { Logger } from 'pino';
import type { ApiKeyResolver } from '../auth/principal.ts';
import type { TokenService } from '../auth/tokens.ts';
import { formatWritePosition, parseWritePosition, WRITE_POSITION_HEADER, type CarriedWritePosition } from '../db/replication/write-position.ts';
import type { Metrics } from '../observability/metrics.ts';
import { observe, requestMetrics, type Readiness } from '../observability/observe.ts';
import { lazyRequestLoggers } from '../observability/request-logger.ts';
import type { RateLimitPolicy } from '../ratelimit/rate-limiter.ts';
import { installAuthentication } from './authenticate.ts';
import { DRAINING_HEADER } from './draining.ts';
import { installErrorHandling } from './error-handler.ts';
import { createFastReads, type FastReadRoute } from './fast-reads.ts';
import { onEveryResponse } from './on-every-response.ts';
import { openApiOptions } from './openapi.ts';
import { installRateLimits } from './rate-limit.hook.ts';
import { createValidatorCompiler } from './validation.ts';

export type HttpApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Lets cache hits of a public GET route be answered before Fastify routes them (fast-reads.ts):
     * same bytes, headers, request id, rate limit, metrics and log line. Register the route too.
     */
    fastRead(route: FastReadRoute): void;
  }
}

export interface HttpAppOptions {
  logger: Logger;
  metrics: Metrics;
  readiness: Readiness;
  tokens: TokenService;
  resolveApiKey: ApiKeyResolver;
  rateLimits: RateLimitPolicy;
  bodyLimitBytes: number;
  version: string;
  /**
   * Addresses or CIDRs of the balancers in front (gateways, the edge) whose `X-Forwarded-For` names
   * the client: rate limits and read-your-writes then key on the client, not on the gateway that
   * every request arrives from. Empty: the peer address is the client, and the header is ignored.
   */
  trustedProxies?: readonly string[];
  /** Shared with the gateways: lets a request carry a principal a gateway verified (`x-scalemart-principal`). Optional. */
  internalSecret?: string;
  /**
   * Runs the rest of each request as its client (the principal's subject, else the IP), so that
   * database reads can honour that client's earlier writes (read replicas), with the write position
   * the client carries in `X-Scalemart-Write-Position` (answered after each write). Optional.
   */
  runAsClient?: (client: string, address: string, next: () => void, carried: CarriedWritePosition) => void;
}

/** An id a client may send; anything else is replaced so it cannot forge log lines. */
const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** The request's id: the client's `X-Request-Id` when it is a plain token, else a new UUID. */
function requestId(request: RawRequestDefaultExpression): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** One limiter per route, whoever asks: the fast path and the route's hook must count together. */
function memoised(policy: RateLimitPolicy): RateLimitPolicy {
  const limiters = new Map<string, ReturnType<RateLimitPolicy['limiterFor']>>();
  return {
    limiterFor(routeKey) {
      let limiter = limiters.get(routeKey);
      if (limiter === undefined) limiters.set(routeKey, (limiter = policy.limiterFor(routeKey)));
      return limiter;
    },
  };
}

/**
 * Node closes idle keep-alive connections once, when close() starts. A request in flight at that
 * moment leaves its connection open and idle after it answers, for Fastify's keepAliveTimeout
 * (72 s), and close() waits for it: a SIGTERM under load then overran the shutdown timeout. Until
 * the server has closed, connections that went idle are closed every 50 ms.
 */
function closeConnectionsThatGoIdle(app: FastifyInstance): void {
  app.addHook('preClose', (done) => {
    const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
    sweep.unref();
    app.server.once('close', () => clearInterval(sweep));
    done();
  });
}

/**
 * From now on every answer tells its client to drop the connection (`Connection: close`), so
 * keep-alive clients (a gateway's pools) reconnect elsewhere while the process drains, and close()
 * finds fewer connections to wait for; and it says the process is draining (`DRAINING_HEADER`), so
 * a gateway takes it out of rotation on the first answer it sees. A listener added only when
 * draining starts: until then requests pay nothing for it. It runs before Fastify's, and Node
 * merges the headers into the answer.
 */
export function announceDraining(app: FastifyInstance): void {
  app.server.prependListener('request', (_request, response) => {
    response.setHeader('Connection', 'close');
    response.setHeader(DRAINING_HEADER, '1');
  });
}

/**
 * The Fastify app every Scalemart process serves: problem+json errors, request ids, body limits,
 * strict validation, authentication, rate limits, metrics, health and the OpenAPI document.
 * Modules add their routes to it; `ready()` must be called by the caller when they have.
 */
export async function createHttpApp(options: HttpAppOptions): Promise<HttpApp> {
  const rateLimits = memoised(options.rateLimits);
  const record = requestMetrics(options.metrics);
  const fastReads = createFastReads({ logger: options.logger, rateLimits, requestId, record, trustedProxies: options.trustedProxies });
  const app = Fastify({
    serverFactory: fastReads.serverFactory,
    loggerInstance: options.logger as FastifyBaseLogger,
    trustProxy: options.trustedProxies?.length ? [...options.trustedProxies] : false,
    bodyLimit: options.bodyLimitBytes,
    requestIdHeader: false,
    genReqId: requestId,
    // Fastify's two lines per request are replaced by the one onResponse line below.
    logController: new LogController({ disableRequestLogging: true }),
    // A request's pino child is made when it first logs: with the request log off, most never do.
    childLoggerFactory: lazyRequestLoggers,
    return503OnClosing: true,
  });

  app.setValidatorCompiler(createValidatorCompiler());
  installErrorHandling(app);
  // One line per request, at the end, with what an operator needs and nothing secret.
  if (options.logger.isLevelEnabled('info')) {
    onEveryResponse(app, (request, reply, route) => {
      request.log.info({ method: request.method, route, url: request.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100 }, 'request');
    });
  }

  await app.register(swagger, openApiOptions(options.version));
  await app.register(swaggerUi, { routePrefix: '/docs' });

  observe(app, record, options.metrics, options.readiness);
  app.decorate('fastRead', fastReads.add);
  // Closing: Fastify answers everything (503 for new requests) while connections drain.
  app.addHook('preClose', (done) => {
    fastReads.stop();
    done();
  });
  // Hooks on every request are callback-style (an async hook costs a promise per request), and the
  // request id rides in the authentication hook: every answer carries it, refusals included.
  installAuthentication(app, options.tokens, options.resolveApiKey, (request, reply) => void reply.header('X-Request-Id', request.id), options.internalSecret);
  closeConnectionsThatGoIdle(app);
  installRateLimits(app, rateLimits);
  const runAsClient = options.runAsClient;
  if (runAsClient) {
    // preValidation, after the body is parsed: async work entered here keeps the context to the handler.
    // The client's last write position travels with it too (a header in, a header out after a
    // write), so the next instance behind a balancer honours it as well.
    app.addHook('preValidation', (request, reply, done) => runAsClient(request.principal?.subject ?? request.ip, request.ip, done, {
      lastWriteLsn: parseWritePosition(request.headers[WRITE_POSITION_HEADER]),
      wrote: (lsn) => {
        if (!reply.raw.headersSent) reply.header(WRITE_POSITION_HEADER, formatWritePosition(lsn));
      },
    }));
  }
  return app.withTypeProvider<TypeBoxTypeProvider>();
}
