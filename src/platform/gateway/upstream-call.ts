import type { Dispatcher } from 'undici';
import { DRAINING_HEADER } from '../http/draining.ts';
import { failureCode, GatewayError } from './errors.ts';
import type { FailureKind } from './gateway-metrics.ts';
import { classify, endTry, RETRY_STATUS, startTry, tryFailed, type ForwardOptions, type ForwardTarget } from './forward.ts';
import type { UpstreamInstance } from './upstream-instance.ts';

/** A GET the gateway makes on its own behalf (a part of an aggregate), not a client's request passed on. */
export interface UpstreamGet {
  /** Path and query, e.g. `/api/v1/products?limit=8`. */
  path: string;
  headers: Record<string, string>;
  /** Aborts the call (the part's deadline); an aborted call blames no instance. */
  signal: AbortSignal;
}

export interface UpstreamAnswer {
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  body: Uint8Array;
}

/**
 * One GET through a route's pool with the same balancing, health and failure accounting as a
 * forwarded request (forward.ts): the balancer picks, a try counts in the instance's in-flight and
 * metrics, a refused connection marks the instance down, 5xx and resets count toward ejection,
 * and a failed try is retried on another instance within the pool's retry budget, at most
 * `options.retries` times. The answer is read whole. Throws a GatewayError (UPSTREAM_FAILED,
 * NO_HEALTHY_UPSTREAM, UPSTREAM_TIMEOUT) when no try gets an answer below 500, or the signal's
 * reason when it aborts.
 */
export async function getThroughPool(target: ForwardTarget, call: UpstreamGet, options: ForwardOptions): Promise<UpstreamAnswer> {
  const { pool, budget } = target;
  const deadline = performance.now() + options.timeoutMs;
  let exclude: UpstreamInstance | undefined;
  let lastFailure: FailureKind | undefined;
  budget.deposit();
  for (let attempt = 0; ; attempt++) {
    call.signal.throwIfAborted();
    const instance = pool.pick(undefined, exclude);
    if (!instance) throw new GatewayError(failureCode(lastFailure), `no instance of pool ${pool.name} answered`);
    const remaining = deadline - performance.now();
    if (remaining <= 0) throw new GatewayError('UPSTREAM_TIMEOUT', `pool ${pool.name} did not answer in time`);
    const isRetry = attempt > 0;
    const started = startTry(target, instance, isRetry);
    let answer: UpstreamAnswer | undefined;
    let failure: FailureKind | undefined;
    try {
      const response = await instance.client.request({
        method: 'GET',
        path: call.path,
        headers: call.headers,
        signal: call.signal,
        headersTimeout: Math.max(1, Math.min(options.tryTimeoutMs, remaining)),
        bodyTimeout: options.tryTimeoutMs,
      });
      answer = { status: response.statusCode, headers: response.headers, body: await response.body.bytes() };
    } catch (error) {
      if (call.signal.aborted) throw call.signal.reason; // the part's deadline: nothing to blame
      failure = classify(error);
    } finally {
      endTry(instance, started);
    }

    if (answer?.headers[DRAINING_HEADER] !== undefined) pool.draining(instance);
    if (answer && answer.status < 500) {
      pool.succeeded(instance);
      return answer;
    }
    if (answer) failure = 'status';
    tryFailed(pool, instance, failure!);
    lastFailure = failure;
    const retryable = failure !== 'status' || RETRY_STATUS.has(answer!.status);
    if (!retryable || attempt >= options.retries || !budget.tryWithdraw()) {
      if (answer) return answer; // the upstream's own 5xx: the caller decides
      throw new GatewayError(failureCode(failure), `pool ${pool.name}: ${failure}`);
    }
    exclude = instance;
  }
}
