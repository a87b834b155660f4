import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { DRAINING_HEADER } from '../http/draining.ts';
import type { Problem } from '../http/problem.ts';
import { failureCode, gatewayProblem } from './errors.ts';
import type { FailureKind } from './gateway-metrics.ts';
import type { RetryBudget } from './retry-budget.ts';
import type { UpstreamInstance } from './upstream-instance.ts';
import type { UpstreamPool } from './upstream-pool.ts';
import { UpstreamTry } from './upstream-try.ts';

export interface ForwardOptions {
  /** Per try: to the upstream's response headers, and the most idle time between body chunks. */
  tryTimeoutMs: number;
  /** Overall, from the first try to the response headers of the last. */
  timeoutMs: number;
  /** Most retries of one request (each on another instance). */
  retries: number;
}

export const DEFAULT_FORWARD: ForwardOptions = Object.freeze({ tryTimeoutMs: 5_000, timeoutMs: 15_000, retries: 2 });

/** One client request as the gateway handles it. */
export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly id: string;
  /** The client's address: the peer, or what a trusted proxy in front says. */
  readonly address: string;
  /** The peer's address, appended to X-Forwarded-For. */
  readonly peer: string;
  /** The request body, read whole (so a retry can send it again); null without one. */
  body: Buffer | null;
  /** The gateway's own answer headers (request id, rate limits), as name, value, name, value… */
  readonly extra: string[];
}

/** What the gateway needs of a route: its pool, its retry budget and how to read its hash key. */
export interface ForwardTarget {
  pool: UpstreamPool;
  budget: RetryBudget;
  hashKey: ((exchange: Exchange) => string | undefined) | undefined;
  retries: { inc(): void };
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) and those undici sets itself; never forwarded either way. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'host']);

/** Upstream statuses an idempotent request is retried on, elsewhere: the instance could not serve it (draining, overloaded). */
export const RETRY_STATUS: ReadonlySet<number> = new Set([502, 503, 504]);

/** Why a try is aborted when the client goes away. */
const CLIENT_LEFT = new Error('the client closed the connection');

/** What kind of failure an undici error is: the instance refused, was too slow, or broke the exchange. */
export function classify(error: unknown): FailureKind {
  const code = (error as { code?: string }).code;
  switch (code) {
    case 'ECONNREFUSED':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'connect';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'timeout';
    default:
      // Resets, sockets closed mid-answer, invalid status lines (HPE_*), anything else.
      return 'reset';
  }
}

/** Counts a try as started (the instance's in-flight and requests; a retry in the metrics); returns when. */
export function startTry(target: ForwardTarget, instance: UpstreamInstance, isRetry: boolean): number {
  if (isRetry) target.retries.inc();
  instance.inFlight++;
  instance.series.requests.inc();
  return performance.now();
}

/** Counts a try as over, whatever came of it, with its latency from `started`. */
export function endTry(instance: UpstreamInstance, started: number): void {
  instance.inFlight--;
  instance.series.latency.observe((performance.now() - started) / 1000);
}

/** A failed try: counted for the instance, and told to the pool (health, ejection). */
export function tryFailed(pool: UpstreamPool, instance: UpstreamInstance, kind: FailureKind): void {
  instance.series.errors[kind].inc();
  pool.failed(instance, kind);
}

/** Strips what must not cross the hop; done in place on the request's own header object. */
function upstreamHeaders(exchange: Exchange): Record<string, string | string[] | undefined> {
  const headers = exchange.req.headers;
  const listed = headers.connection;
  if (typeof listed === 'string' && listed !== 'keep-alive' && listed !== 'close') {
    for (const name of listed.split(',')) delete headers[name.trim().toLowerCase()];
  }
  for (const name of HOP_BY_HOP) if (headers[name] !== undefined) delete headers[name];
  // Each hop appends the address it was called from (the edge's, behind one).
  const forwardedFor = headers['x-forwarded-for'];
  headers['x-forwarded-for'] = forwardedFor === undefined ? exchange.peer : `${forwardedFor}, ${exchange.peer}`;
  headers['x-forwarded-proto'] ??= 'http';
  headers['x-request-id'] = exchange.id;
  return headers;
}

/** The answer's headers: the gateway's own, then the upstream's except hop-by-hop, rate-limit and internal ones. */
function answerHeaders(exchange: Exchange, headers: IncomingHttpHeaders): string[] {
  const out = exchange.extra;
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || name.startsWith('ratelimit-') || name === 'x-request-id' || name === DRAINING_HEADER) continue;
    const value = headers[name];
    if (typeof value === 'string') out.push(name, value);
    else if (value !== undefined) for (const v of value) out.push(name, v);
  }
  return out;
}

/** Answers with a problem+json body (and any `more` headers); a response already under way is cut off instead. */
export function sendProblem(exchange: Exchange, body: Problem, more?: string[]): void {
  const res = exchange.res;
  if (res.headersSent) return void res.destroy();
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  const out = exchange.extra;
  out.push('content-type', 'application/problem+json; charset=utf-8', 'content-length', String(Buffer.byteLength(text)));
  if (more) out.push(...more);
  res.writeHead(body.status, out);
  res.end(text);
}

/**
 * Sends the exchange's request to an instance of the target's pool and answers with what comes
 * back. Retries go to another instance, only for idempotent requests (GET, HEAD, or carrying
 * `Idempotency-Key`), within the pool's retry budget and the overall deadline; a refused
 * connection is retried for any method, since the request never reached the instance. A client
 * that goes away aborts the upstream request. Failures answer 502 UPSTREAM_FAILED, 503
 * NO_HEALTHY_UPSTREAM or 504 UPSTREAM_TIMEOUT; nothing an upstream does throws out of here.
 */
export async function forward(exchange: Exchange, target: ForwardTarget, options: ForwardOptions): Promise<void> {
  const { pool, budget } = target;
  const { req, res } = exchange;
  const method = req.method!;
  const headers = upstreamHeaders(exchange);
  const idempotent = method === 'GET' || method === 'HEAD' || headers['idempotency-key'] !== undefined;
  const body = exchange.body;
  const path = req.url!;
  const key = target.hashKey?.(exchange);
  const deadline = performance.now() + options.timeoutMs;
  // The client leaving (before the answer is complete) aborts whatever try is running.
  let current: UpstreamTry | undefined;
  let left = false;
  res.once('close', () => {
    if (res.writableFinished) return;
    left = true;
    current?.abort(CLIENT_LEFT);
  });
  const expectsBody = method !== 'HEAD';

  let exclude: UpstreamInstance | undefined;
  let lastFailure: FailureKind | undefined;
  budget.deposit();
  for (let attempt = 0; ; attempt++) {
    const instance = pool.pick(key, exclude);
    if (!instance) return sendProblem(exchange, gatewayProblem(failureCode(lastFailure)));
    const remaining = deadline - performance.now();
    if (remaining <= 0) return sendProblem(exchange, gatewayProblem('UPSTREAM_TIMEOUT'));
    const isRetry = attempt > 0;
    const started = startTry(target, instance, isRetry);
    const attemptNow = (current = new UpstreamTry(expectsBody));
    instance.client.dispatch({
      method: method as Dispatcher.HttpMethod,
      path,
      headers,
      body,
      headersTimeout: Math.max(1, Math.min(options.tryTimeoutMs, remaining)),
      bodyTimeout: options.tryTimeoutMs,
    }, attemptNow);
    const outcome = await attemptNow.done;
    endTry(instance, started);
    if (left) return; // the client left: nothing to answer, nothing to blame

    if (outcome.error === undefined) {
      const status = outcome.status;
      if (outcome.headers[DRAINING_HEADER] !== undefined) pool.draining(instance);
      if (status < 500) {
        pool.succeeded(instance);
      } else {
        tryFailed(pool, instance, 'status');
        if (idempotent && RETRY_STATUS.has(status) && attempt < options.retries && budget.tryWithdraw()) {
          if (outcome.streaming) outcome.discard();
          lastFailure = 'status';
          exclude = instance;
          continue;
        }
      }
      res.writeHead(status, answerHeaders(exchange, outcome.headers));
      // Small answers (nearly all of the API) were read whole: one write to the client, and a
      // body that stopped mid-way was a failed try like any other (502, or a retry) rather than
      // a cut-off response. Large or unsized ones stream; one that stops mid-way is cut off.
      if (outcome.streaming) return outcome.streamTo(res);
      return void res.end(outcome.body);
    }
    const failure = classify(outcome.error);
    tryFailed(pool, instance, failure);
    lastFailure = failure;
    const retryable = idempotent || failure === 'connect';
    if (!retryable || attempt >= options.retries || !budget.tryWithdraw()) {
      return sendProblem(exchange, gatewayProblem(failureCode(failure)));
    }
    exclude = instance;
  }
}
