import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import proxyaddr from '@fastify/proxy-addr';
import type { Logger } from 'pino';
import type { TokenService } from '../auth/tokens.ts';
import { PlatformErrors } from '../errors/domain-error.ts';
import { problem } from '../http/problem.ts';
import type { Metrics } from '../observability/metrics.ts';
import { createLeasedRateLimiter } from '../ratelimit/leased-limiter.ts';
import { createRateLimitPolicy, type RateDecision, type RateLimiterStore, type RateLimitPolicy } from '../ratelimit/rate-limiter.ts';
import { createBalancer } from './balancers/index.ts';
import { createGatewayDocs, poolDocumentSource } from './docs.ts';
import { createEdgeAuthenticator } from './edge-auth.ts';
import { forward, sendProblem, type Exchange, type ForwardOptions, type ForwardTarget } from './forward.ts';
import { createGatewayMetrics } from './gateway-metrics.ts';
import { startHealthChecks, type HealthCheckOptions } from './health-checker.ts';
import { createRouteLimiters, decideNow, type RouteLimiter } from './limits.ts';
import { createRetryBudget } from './retry-budget.ts';
import type { HashKeySource, RouteTable } from './routes-file.ts';
import { createUpstreamInstance, type ConnectionOptions } from './upstream-instance.ts';
import { createUpstreamPool, type PoolPolicy, type UpstreamPool } from './upstream-pool.ts';

export interface GatewayOptions {
  logger: Logger;
  metrics: Metrics;
  /** Verifies client JWTs: the same secret as the upstreams. */
  tokens: TokenService;
  /** Signs the forwarded principal; upstreams verify it with the same secret. */
  internalSecret: string;
  table: RouteTable;
  policy: Partial<PoolPolicy>;
  health: HealthCheckOptions;
  forward: ForwardOptions;
  connection: ConnectionOptions;
  retryBudget: { percent: number; minPerSecond: number };
  /**
   * `lease` > 1 takes points from a shared store in leases (src/platform/ratelimit/leased-limiter.ts):
   * for Redis, not for the in-process memory store.
   */
  rateLimits: { store: RateLimiterStore; points: number; windowSeconds: number; routes: Record<string, number>; lease?: number };
  bodyLimitBytes: number;
  /**
   * Addresses or CIDRs of the balancers in front (the nginx edge) whose X-Forwarded-For is
   * believed: the client's address (limits, hash key) is then the one they report. Empty: the
   * peer's address, and a client-sent X-Forwarded-For is ignored.
   */
  trustedProxies: string[];
  /**
   * An answer the gateway makes itself instead of forwarding (the storefront's home page), built
   * once the pools exist; undefined from it (or no option): none.
   */
  own?: (context: OwnRouteContext) => OwnRoute | undefined;
}

/** What an own route is built from. */
export interface OwnRouteContext {
  /** The route that serves `path` (the longest prefix equal to it or ending at a `/` of it): its prefix and target. */
  routeFor(path: string): { prefix: string; target: ForwardTarget } | undefined;
  /** The gateway's per-try and overall timeouts and retries, for calls of its own through a pool. */
  forward: ForwardOptions;
  metrics: Metrics;
}

/** An own route's answer, written as is (after the gateway's own headers: request id, rate limits). */
export interface OwnAnswer {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** JSON (`application/json` unless `headers` name another content type); none for a 304. */
  body: string | undefined;
}

/**
 * `GET` and `HEAD` of one exact path, answered by the gateway after its edge authentication
 * (the signed principal is in the request's headers) and under the rate limit of the prefix the
 * path falls under, one budget with the forwarded routes of that prefix.
 */
export interface OwnRoute {
  path: string;
  answer(exchange: Exchange): Promise<OwnAnswer>;
}

export interface Gateway {
  readonly server: http.Server;
  readonly pools: ReadonlyMap<string, UpstreamPool>;
  /** Listens; resolves with the base URL. */
  listen(host: string, port: number): Promise<string>;
  /** Fails `/readyz` from now on (503), so balancers in front stop sending; requests are still served. */
  drain(): void;
  /** Stops accepting, finishes in-flight requests, stops health checks and closes upstream connections. */
  close(): Promise<void>;
}

interface Route {
  prefix: string;
  /** `prefix/`, for the match. */
  under: string;
  target: ForwardTarget;
  limiter: RouteLimiter;
  /** After edge auth and limits: forwards (`proceed`), or the gateway's own answer. */
  serve(exchange: Exchange, route: Route): void;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const REQUEST_ID = /^[\w.:-]{1,128}$/;
/** A path that could climb out of /api/v1 once an upstream normalises it (dot segments, encoded slashes or dots). */
const ESCAPE = /(^|\/)\.\.?(\/|$)|%2e|%2f|%5c|\\/i;
/** Idle client connections are kept this long: Fastify's default, as the upstreams. */
const CLIENT_KEEP_ALIVE_MS = 72_000;

function hashKeyReader(source: HashKeySource): (exchange: Exchange) => string | undefined {
  if (source === 'ip') return (exchange) => exchange.address;
  const name = source.slice('header:'.length);
  return (exchange) => {
    const value = exchange.req.headers[name];
    return typeof value === 'string' ? value : undefined;
  };
}

/**
 * The gateway: the public `/api/v1` surface routed by path prefix (longest first) to pools of
 * upstream instances, with edge authentication, shared rate limits, health checks, outlier
 * ejection, retries and timeouts; plus its own `/livez`, `/readyz` and `/metrics`, and the
 * public API document merged from the pools' at `/docs/json` with Swagger UI at `/docs` (docs.ts).
 * Anything else (`/internal/…`) is 404 here.
 *
 * It serves on node:http directly rather than Fastify: measured on the lab's product GET, the
 * same forwarding behind Fastify's routing, hooks and reply cost about 40 % more CPU per request,
 * and a gateway has one route and no schemas to gain from them.
 */
export function createGateway(options: GatewayOptions): Gateway {
  const { logger, table } = options;
  let draining = false;
  let closing = false;
  const gatewayMetrics = createGatewayMetrics(options.metrics.registry);

  const pools = new Map<string, UpstreamPool>();
  const targets = new Map<string, ForwardTarget>();
  for (const [name, definition] of Object.entries(table.pools)) {
    const instances = definition.upstreams.map((u) =>
      createUpstreamInstance({ url: u.url, weight: u.weight, pool: name, connection: options.connection, series: gatewayMetrics.instance(name, new URL(u.url).host) }),
    );
    const pool = createUpstreamPool({ name, instances, balancer: createBalancer(definition.balancer), policy: options.policy, logger });
    pools.set(name, pool);
    targets.set(name, {
      pool,
      budget: createRetryBudget(options.retryBudget),
      hashKey: definition.balancer === 'hash' ? hashKeyReader(definition.hashKey) : undefined,
      retries: gatewayMetrics.retries(name),
    });
  }
  gatewayMetrics.observeState(function* () {
    for (const pool of pools.values()) {
      for (const i of pool.instances) yield { pool: pool.name, instance: i.id, inFlight: i.inFlight, healthy: i.up && !i.ejected, ejected: i.ejected };
    }
  });
  const stopChecks = [...pools.values()].map((pool) => startHealthChecks(pool, options.health));

  const auth = createEdgeAuthenticator({ tokens: options.tokens, internalSecret: options.internalSecret });
  const { store, points, windowSeconds, routes: routeLimits, lease = 1 } = options.rateLimits;
  const policy: RateLimitPolicy = lease > 1
    ? { limiterFor: (key) => createLeasedRateLimiter(store, routeLimits[key] ?? points, windowSeconds, `rl:${key}`, lease) }
    : createRateLimitPolicy({ store, points, windowSeconds, routes: routeLimits });
  const limiterFor = createRouteLimiters(policy, routeLimits);
  const decisions = { allowed: gatewayMetrics.limiterDecision('allowed'), refused: gatewayMetrics.limiterDecision('refused') };
  const routes: Route[] = table.routes
    .map((r): Route => ({ prefix: r.prefix, under: `${r.prefix}/`, target: targets.get(r.pool)!, limiter: limiterFor(r.prefix), serve: proceed }))
    .sort((a, b) => b.prefix.length - a.prefix.length);
  const trust = options.trustedProxies.length > 0 ? proxyaddr.compile(options.trustedProxies) : undefined;

  function match(path: string): Route | undefined {
    for (const route of routes) if (path === route.prefix || path.startsWith(route.under)) return route;
    return undefined;
  }

  // The own route: the route its path falls under, with its limiter, answering instead of forwarding.
  const own = options.own?.({
    routeFor: (path) => match(path),
    forward: options.forward,
    metrics: options.metrics,
  });
  const ownBase = own ? match(own.path) : undefined;
  const ownPath = ownBase ? own!.path : undefined;
  const ownRoute: Route | undefined = ownBase ? { ...ownBase, serve: (exchange) => serveOwn(exchange, own!) } : undefined;

  // The API document: looked at only once no route matched, so forwarding never pays for it. It is
  // authenticated and limited as the API, under a `* /docs` budget of its own: a page load is a
  // handful of cheap, cached answers, yet a client that loops on it is still stopped.
  const routed = new Set(table.routes.map((r) => r.pool));
  const docs = createGatewayDocs({
    sources: [...targets].filter(([name]) => routed.has(name)).map(([name, target]) => poolDocumentSource(name, target, options.forward)),
    owner: (path) => match(path)?.target.pool.name,
    timeoutMs: options.forward.timeoutMs,
    logger,
  });
  // `target` is never used: `serve` answers from the docs and never forwards.
  const docsRoute: Route = { prefix: '/docs', under: '/docs/', target: routes[0]!.target, limiter: limiterFor('/docs'), serve: (exchange) => {
    docs.serve(exchange).catch((error: unknown) => internalError(exchange, error));
  } };

  function internalError(exchange: Exchange, error: unknown): void {
    logger.error({ err: error, requestId: exchange.id }, 'gateway: request failed');
    sendProblem(exchange, problem(500, 'INTERNAL', 'Something went wrong on our side. The request id identifies it in our logs.'));
  }

  function json(exchange: Exchange, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    exchange.extra.push('content-type', 'application/json; charset=utf-8', 'content-length', String(Buffer.byteLength(text)));
    exchange.res.writeHead(status, exchange.extra);
    exchange.res.end(text);
  }

  function operations(exchange: Exchange, path: string): boolean {
    switch (path) {
      case '/livez':
        json(exchange, 200, { status: 'ok' });
        return true;
      case '/readyz': {
        const dependencies = Object.fromEntries([...pools.values()].map((p) => [`pool:${p.name}`, p.healthy() > 0 ? 'up' : 'down']));
        if (draining) json(exchange, 503, { status: 'unavailable', reason: 'draining' });
        else json(exchange, 200, { status: 'ready', dependencies });
        return true;
      }
      case '/metrics':
        options.metrics.registry.metrics().then((text) => {
          exchange.extra.push('content-type', options.metrics.registry.contentType);
          exchange.res.writeHead(200, exchange.extra);
          exchange.res.end(text);
        }, (error: unknown) => internalError(exchange, error));
        return true;
      default:
        return false;
    }
  }

  function serveOwn(exchange: Exchange, route: OwnRoute): void {
    route.answer(exchange).then((answer) => {
      const res = exchange.res;
      if (res.destroyed) return; // the client left
      const out = exchange.extra;
      for (const name in answer.headers) out.push(name, answer.headers[name]!);
      if (answer.body !== undefined) {
        if (answer.headers['content-type'] === undefined) out.push('content-type', 'application/json; charset=utf-8');
        out.push('content-length', String(Buffer.byteLength(answer.body)));
      }
      res.writeHead(answer.status, out);
      // node:http sends no body for HEAD.
      res.end(answer.body);
    }, (error: unknown) => internalError(exchange, error));
  }

  /** Reads the body whole (at most the limit: 413 beyond), then forwards. */
  function readBodyThenForward(exchange: Exchange, route: Route): void {
    const { req } = exchange;
    const limit = options.bodyLimitBytes;
    const tooLarge = () => {
      exchange.extra.push('connection', 'close');
      sendProblem(exchange, problem(413, 'PAYLOAD_TOO_LARGE', 'The request body is larger than the limit.'));
      req.resume();
    };
    if (Number(req.headers['content-length']) > limit) return tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > limit) {
        refused = true;
        return tooLarge();
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (refused) return;
      exchange.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      forward(exchange, route.target, options.forward).catch((error: unknown) => internalError(exchange, error));
    });
    req.on('error', () => {});
  }

  function proceed(exchange: Exchange, route: Route): void {
    const headers = exchange.req.headers;
    const length = headers['content-length'];
    const hasBody = length !== undefined ? length !== '0' : headers['transfer-encoding'] !== undefined;
    if (hasBody) return readBodyThenForward(exchange, route);
    forward(exchange, route.target, options.forward).catch((error: unknown) => internalError(exchange, error));
  }

  function limited(exchange: Exchange, route: Route, decision: RateDecision): void {
    const reset = String(decision.resetSeconds);
    exchange.extra.push('ratelimit-limit', String(decision.limit), 'ratelimit-remaining', String(decision.remaining), 'ratelimit-reset', reset);
    if (decision.allowed) {
      decisions.allowed.inc();
      return route.serve(exchange, route);
    }
    decisions.refused.inc();
    sendProblem(exchange, problem(429, 'RATE_LIMITED', `Too many requests; retry in ${reset} s.`), ['retry-after', reset]);
  }

  function admit(exchange: Exchange, route: Route, path: string, client: string | null): void {
    if (client === null) {
      const error = PlatformErrors.invalidToken();
      return sendProblem(exchange, problem(401, error.code, error.message));
    }
    const limiter = route.limiter(exchange.req.method!, path);
    const now = decideNow(limiter, client);
    if (now !== undefined) return limited(exchange, route, now);
    limiter.consume(client).then((decision) => limited(exchange, route, decision), (error: unknown) => {
      // The Redis store falls back to its insurance limiter; anything left is not the client's fault.
      logger.warn({ err: error }, 'gateway: rate limiter failed; letting the request through');
      route.serve(exchange, route);
    });
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    const peer = req.socket.remoteAddress ?? '';
    const exchange: Exchange = { req, res, id, peer, address: trust ? proxyaddr(req, trust) : peer, body: null, extra: ['x-request-id', id] };
    if (closing) res.shouldKeepAlive = false;
    if (operations(exchange, path)) return;
    const method = req.method!;
    // The one extra comparison on the forwarding path: whether this is the own route's path.
    let route = path === ownPath && (method === 'GET' || method === 'HEAD') ? ownRoute : METHODS.has(method) ? match(path) : undefined;
    if (route === undefined || ((path.includes('.') || path.includes('%') || path.includes('\\')) && ESCAPE.test(path))) {
      if (!((method === 'GET' || method === 'HEAD') && docs.serves(path))) {
        return sendProblem(exchange, problem(404, 'NOT_FOUND', `No route for ${req.method} ${path}.`));
      }
      route = docsRoute;
    }
    const client = auth.authenticate(req.headers, exchange.address);
    if (typeof client === 'string' || client === null) return admit(exchange, route, path, client);
    client.then((c) => admit(exchange, route, path, c), (error: unknown) => internalError(exchange, error));
  }

  const server = http.createServer((req, res) => {
    try {
      handle(req, res);
    } catch (error) {
      internalError({ req, res, id: randomUUID(), peer: '', address: '', body: null, extra: [] }, error);
    }
  });
  server.keepAliveTimeout = CLIENT_KEEP_ALIVE_MS;

  return {
    server,
    pools,
    listen(host, port) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address() as AddressInfo;
          resolve(`http://${address.address}:${address.port}`);
        });
      });
    },
    drain() {
      draining = true;
    },
    async close() {
      closing = true;
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Idle keep-alive connections close now; busy ones after their answer (Connection: close).
      server.closeIdleConnections();
      const sweep = setInterval(() => server.closeIdleConnections(), 100);
      sweep.unref();
      await closed;
      clearInterval(sweep);
      auth.close();
      await Promise.all(stopChecks.map((stop) => stop()));
      await Promise.all([...pools.values()].map((p) => p.close()));
    },
  };
}
