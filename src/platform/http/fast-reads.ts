import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import proxyaddr from '@fastify/proxy-addr';
import type { FastifyServerFactory } from 'fastify';
import type { Logger } from 'pino';
import { FORWARDED_PRINCIPAL_HEADER } from '../auth/forwarded-principal.ts';
import type { RateDecision, RateLimitPolicy } from '../ratelimit/rate-limiter.ts';
import { etagMatches } from './http-cache.ts';

/** What a cached read answers: the exact body, its byte length and strong ETag the route's handler sends. */
export interface FastView {
  etag: string;
  body: string;
  /** `Buffer.byteLength(body)`, as Fastify's Content-Length, computed once per view. */
  length: number;
}

/** A public GET route whose in-process cache hits the fast path may answer. */
export interface FastReadRoute {
  /**
   * The route's template as registered with Fastify, under `/api/`: either one parameter at the end
   * (`/api/v1/products/:id`, no query string taken) or no parameter (`/api/v1/products`, whose query
   * string `read` is given).
   */
  url: string;
  /** The parameter's pattern from the route's schema, anchored (`^…$`). A path whose parameter does not match goes to Fastify (which answers 400). */
  param?: RegExp;
  /** Cache-Control of a 200 or 304, as the handler sets it. */
  cacheControl: string;
  /**
   * The view of a fresh in-process cache entry for the parameter, or for the raw query string ('' when
   * there is none), or undefined: Fastify then serves the request as always. A query string `read`
   * cannot vouch for (anything its schema might refuse or parse differently) must be left to Fastify,
   * and so must a parameter that Fastify routes elsewhere (a static sibling route).
   */
  read(input: string): FastView | undefined;
}

/** Set on a request the fast path counted against its rate limit and then left to Fastify (it was refused). */
export const DECIDED: unique symbol = Symbol('rate decision made by the fast path');
export type DecidedRequest = IncomingMessage & { [DECIDED]?: RateDecision };

export interface FastReadsOptions {
  logger: Logger;
  rateLimits: RateLimitPolicy;
  /** The same request-id rule as the Fastify app's `genReqId`. */
  requestId(request: IncomingMessage): string;
  /** Records one answer in the request metrics, as the Fastify app's onResponse hook does. */
  record(route: string, method: string, status: number, seconds: number): void;
  trustedProxies?: readonly string[];
}

export interface FastReads {
  /** Fastify's `serverFactory`: the HTTP server, trying the fast path before Fastify's handler. */
  serverFactory: FastifyServerFactory;
  /** Adds a route the fast path serves; the route itself must also be registered with Fastify. */
  add(route: FastReadRoute): void;
  /** From now on Fastify answers everything (it answers 503 while closing). */
  stop(): void;
}

/** The options Fastify hands a server factory that its own server would take (defaults applied). */
interface ServerSettings {
  http?: ServerOptions;
  keepAliveTimeout: number;
  requestTimeout: number;
  connectionTimeout: number;
  maxRequestsPerSocket: number;
}

interface Compiled extends FastReadRoute {
  /** What `read` is given for this request URL, or undefined when the route does not take it. */
  input: (url: string) => string | undefined;
  /** The path a request log line names (`request.url` without its query, as the route logs it). */
  logged: (url: string) => string;
  limit: (client: string) => RateDecision | undefined;
}

/**
 * Answers GETs of cached public resources before Fastify routes them: a product page from the
 * in-process cache, with every header Fastify's route would set, in the same order, and the same
 * request id, rate limit, metrics and request log.
 *
 * Why: on a cached product page Fastify's per-request machinery (a Request and a Reply object, the
 * hook runners, params validation, the lazy logger, header bookkeeping in the reply, then Node's
 * own header object) cost more than the answer itself. hot-read measured Scalemart at 1.6-1.8×
 * bare Fastify's CPU per request with all of it; this path skips Fastify and serves the same bytes.
 *
 * Only the plainest request is taken: GET, no credential of any kind (a credential must still be
 * checked, and a bad one refused with 401), a path that is exactly the template (with a valid
 * parameter and no query string, or with a query string the route's `read` vouches for), an entry
 * the cache holds fresh in-process, and a process that is not closing. Everything else, including
 * a request the rate limit refuses, goes to Fastify as before.
 */
export function createFastReads(options: FastReadsOptions): FastReads {
  const routes: Compiled[] = [];
  let stopped = false;
  const logRequests = options.logger.isLevelEnabled('info');
  const trust = options.trustedProxies?.length ? proxyaddr.compile([...options.trustedProxies]) : undefined;
  const clientIp = trust ? (request: IncomingMessage) => proxyaddr(request, trust) : (request: IncomingMessage) => request.socket.remoteAddress ?? '';

  /** True when the request was answered here. */
  function serve(request: DecidedRequest, response: ServerResponse): boolean {
    if (stopped || request.method !== 'GET') return false;
    const headers = request.headers;
    if (headers.authorization !== undefined || headers['x-api-key'] !== undefined || headers[FORWARDED_PRINCIPAL_HEADER] !== undefined) return false;
    const url = request.url!;
    let found: Compiled | undefined;
    let input: string | undefined;
    for (let i = 0; i < routes.length && input === undefined; i++) input = (found = routes[i]!).input(url);
    if (input === undefined || found === undefined) return false;
    const view = found.read(input);
    if (view === undefined) return false;
    const started = performance.now();
    const decision = found.limit(`ip:${clientIp(request)}`);
    if (decision === undefined) return false;
    if (!decision.allowed) {
      // Fastify answers the refusal (problem+json, Retry-After) with this decision, not a second count.
      request[DECIDED] = decision;
      return false;
    }
    const id = options.requestId(request);
    const ifNoneMatch = headers['if-none-match'];
    const notModified = ifNoneMatch !== undefined && etagMatches(ifNoneMatch, view.etag);
    const status = notModified ? 304 : 200;
    // Fastify lower-cases the names it sets; the order is the order its hooks and handler set them.
    response.writeHead(status, notModified
      ? ['x-request-id', id, 'ratelimit-limit', decision.limit, 'ratelimit-remaining', decision.remaining, 'ratelimit-reset', decision.resetSeconds,
          'etag', view.etag, 'cache-control', found.cacheControl]
      : ['x-request-id', id, 'ratelimit-limit', decision.limit, 'ratelimit-remaining', decision.remaining, 'ratelimit-reset', decision.resetSeconds,
          'etag', view.etag, 'cache-control', found.cacheControl, 'content-type', 'application/json; charset=utf-8', 'content-length', view.length]);
    response.end(notModified ? undefined : view.body);
    const ms = performance.now() - started;
    options.record(found.url, 'GET', status, ms / 1000);
    if (logRequests) options.logger.info({ reqId: id, method: 'GET', route: found.url, url: found.logged(url), status, ms: Math.round(ms * 100) / 100 }, 'request');
    return true;
  }

  return {
    serverFactory(handler, fastifyOptions): Server {
      // Fastify passes its options with its defaults applied.
      const settings = fastifyOptions as unknown as ServerSettings;
      const server = createServer(settings.http ?? {}, (request, response) => {
        if (!serve(request, response)) handler(request, response);
      });
      // What Fastify sets on the server it makes itself (lib/server.js getServerInstance).
      server.keepAliveTimeout = settings.keepAliveTimeout;
      server.requestTimeout = settings.requestTimeout;
      server.setTimeout(settings.connectionTimeout);
      if (settings.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = settings.maxRequestsPerSocket;
      return server;
    },
    add(spec) {
      // Under /api/, where every route is rate limited (rate-limit.hook.ts); a parameter only last.
      const at = spec.url.indexOf('/:');
      const param = spec.param;
      if (!spec.url.startsWith('/api/') || (at === -1) !== (param === undefined) || (at !== -1 && (spec.url.includes('/', at + 1) || spec.url.includes(':', at + 2)))) {
        throw new Error(`fast read ${spec.url}: an /api/ route with no parameter, or one parameter at the end with its pattern`);
      }
      const consumeNow = options.rateLimits.limiterFor(`GET ${spec.url}`).consumeNow;
      const prefix = spec.url.slice(0, at + 1);
      const path = spec.url;
      routes.push({
        ...spec,
        input: param
          ? (url) => {
              if (!url.startsWith(prefix)) return undefined;
              const rest = url.slice(prefix.length);
              return param.test(rest) ? rest : undefined;
            }
          : (url) => (url === path ? '' : url.startsWith(path) && url.charCodeAt(path.length) === 63 /* ? */ ? url.slice(path.length + 1) : undefined),
        logged: param ? (url) => url : () => path,
        // A limiter that answers only asynchronously (none does today) leaves every request to Fastify.
        limit: consumeNow ?? (() => undefined),
      });
    },
    stop() {
      stopped = true;
    },
  };
}
