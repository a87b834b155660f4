import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Dispatcher } from 'undici';
import { GATEWAY_STATUS, gatewayProblem, type GatewayErrorCode } from './errors.ts';
import type { FailureKind } from './gateway-metrics.ts';
import type { RetryBudget } from './retry-budget.ts';
import type { UpstreamInstance } from './upstream-instance.ts';
import type { UpstreamPool } from './upstream-pool.ts';

export interface ForwardOptions {
  /** Per try: to the upstream's response headers, and the most idle time between body chunks. */
  tryTimeoutMs: number;
  /** Overall, from the first try to the response headers of the last. */
  timeoutMs: number;
  /** Most retries of one request (each on another instance). */
  retries: number;
}

export const DEFAULT_FORWARD: ForwardOptions = Object.freeze({ tryTimeoutMs: 5_000, timeoutMs: 15_000, retries: 2 });

/** What the gateway needs of a route: its pool, its retry budget and how to read its hash key. */
export interface ForwardTarget {
  pool: UpstreamPool;
  budget: RetryBudget;
  hashKey: ((request: FastifyRequest) => string | undefined) | undefined;
  retries: { inc(): void };
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) and those undici sets itself; never forwarded either way. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'host']);

/** Upstream statuses an idempotent request is retried on, elsewhere: the instance could not serve it (draining, overloaded). */
const RETRY_STATUS = new Set([502, 503, 504]);

/** Answers up to this size (by Content-Length) are read whole before they are sent on. */
const BUFFER_BYTES = 1024 * 1024;

function classify(error: unknown): FailureKind {
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

/** Strips what must not cross the hop; done in place on the request's own header object. */
function upstreamHeaders(request: FastifyRequest): Record<string, string | string[] | undefined> {
  const headers = request.headers;
  const listed = headers.connection;
  if (typeof listed === 'string' && listed !== 'keep-alive' && listed !== 'close') {
    for (const name of listed.split(',')) delete headers[name.trim().toLowerCase()];
  }
  for (const name of HOP_BY_HOP) if (headers[name] !== undefined) delete headers[name];
  // Each hop appends the address it was called from (the edge's, behind one).
  const peer = request.raw.socket.remoteAddress ?? request.ip;
  const forwardedFor = headers['x-forwarded-for'];
  headers['x-forwarded-for'] = forwardedFor === undefined ? peer : `${forwardedFor}, ${peer}`;
  headers['x-forwarded-proto'] ??= 'http';
  headers['x-request-id'] = request.id;
  return headers;
}

/** Copies an upstream answer's headers, except hop-by-hop ones and the rate-limit headers the gateway sets itself. */
function copyHeaders(reply: FastifyReply, headers: Dispatcher.ResponseData['headers']): void {
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || name.startsWith('ratelimit-')) continue;
    const value = headers[name];
    if (value !== undefined) reply.header(name, value);
  }
}

function fail(reply: FastifyReply, code: GatewayErrorCode): FastifyReply {
  return reply.code(GATEWAY_STATUS[code]).type('application/problem+json').send(gatewayProblem(code));
}

/**
 * Sends `request` to an instance of the target's pool and streams the answer back. Retries go to
 * another instance, only for idempotent requests (GET, HEAD, or carrying `Idempotency-Key`),
 * within the pool's retry budget and the overall deadline; a refused connection is retried for
 * any method, since the request never reached the instance. A client that goes away aborts the
 * upstream request. Failures answer 502 UPSTREAM_FAILED, 503 NO_HEALTHY_UPSTREAM or 504
 * UPSTREAM_TIMEOUT; nothing an upstream does throws out of here.
 */
export async function forward(request: FastifyRequest, reply: FastifyReply, target: ForwardTarget, options: ForwardOptions): Promise<FastifyReply> {
  const { pool, budget } = target;
  const method = request.method;
  const headers = upstreamHeaders(request);
  const idempotent = method === 'GET' || method === 'HEAD' || headers['idempotency-key'] !== undefined;
  const body = (request.body as Buffer | undefined) ?? null;
  const key = target.hashKey?.(request);
  const deadline = performance.now() + options.timeoutMs;
  // The client leaving (before the answer is complete) aborts whatever try is running.
  const abort = new AbortController();
  const raw = reply.raw;
  const onClose = () => {
    if (!raw.writableFinished) abort.abort();
  };
  raw.once('close', onClose);

  let exclude: UpstreamInstance | undefined;
  let lastFailure: FailureKind | undefined;
  budget.active++;
  try {
    for (let attempt = 0; ; attempt++) {
      const instance = pool.pick(key, exclude);
      if (!instance) return fail(reply, lastFailure === undefined ? 'NO_HEALTHY_UPSTREAM' : lastFailure === 'timeout' ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_FAILED');
      const remaining = deadline - performance.now();
      if (remaining <= 0) return fail(reply, 'UPSTREAM_TIMEOUT');
      const isRetry = attempt > 0;
      if (isRetry) {
        budget.retrying++;
        target.retries.inc();
      }
      const started = performance.now();
      instance.inFlight++;
      instance.series.requests.inc();
      let response: Dispatcher.ResponseData | undefined;
      let failure: FailureKind | undefined;
      try {
        response = await instance.client.request({
          method: method as Dispatcher.HttpMethod,
          path: request.url,
          headers,
          body,
          signal: abort.signal,
          headersTimeout: Math.max(1, Math.min(options.tryTimeoutMs, remaining)),
          bodyTimeout: options.tryTimeoutMs,
        });
      } catch (error) {
        if (abort.signal.aborted) return reply; // the client left: nothing to answer, nothing to blame
        failure = classify(error);
      } finally {
        instance.inFlight--;
        if (isRetry) budget.retrying--;
      }
      instance.series.latency.observe((performance.now() - started) / 1000);

      if (response) {
        const status = response.statusCode;
        if (status < 500) {
          pool.succeeded(instance);
        } else {
          instance.series.errors.status.inc();
          pool.failed(instance, 'status');
          if (idempotent && RETRY_STATUS.has(status) && attempt < options.retries && budget.allows()) {
            response.body.dump().catch(() => {});
            lastFailure = 'status';
            exclude = instance;
            continue;
          }
        }
        if (method === 'HEAD' || status === 204 || status === 304) {
          response.body.dump().catch(() => {});
          copyHeaders(reply, response.headers);
          return reply.code(status).send();
        }
        const length = response.headers['content-length'];
        if (length !== undefined && Number(length) <= BUFFER_BYTES) {
          // Small answers (nearly all of the API) are read whole before anything is sent: one write
          // to the client instead of a stream, and a body that stops mid-way is a failed try like
          // any other (502, or a retry) rather than a cut-off response.
          let bytes: Uint8Array | undefined;
          try {
            bytes = await response.body.bytes();
          } catch (error) {
            if (abort.signal.aborted) return reply;
            failure = classify(error);
          }
          if (bytes) {
            copyHeaders(reply, response.headers);
            return reply.code(status).send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
          }
        } else {
          copyHeaders(reply, response.headers);
          // Large or unsized answers stream. One that stops mid-way ends the client's response the
          // same way (it cannot be taken back once headers left); Fastify handles the stream's error.
          return reply.code(status).send(response.body);
        }
      }
      if (failure === undefined) return fail(reply, 'UPSTREAM_FAILED'); // unreachable: an answer or a failure

      instance.series.errors[failure].inc();
      pool.failed(instance, failure);
      lastFailure = failure;
      const retryable = idempotent || failure === 'connect';
      if (!retryable || attempt >= options.retries || !budget.allows()) {
        return fail(reply, failure === 'timeout' ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_FAILED');
      }
      exclude = instance;
    }
  } finally {
    budget.active--;
  }
}
