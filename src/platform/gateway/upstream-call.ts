import type { Dispatcher } from 'undici';
import { GatewayError, type GatewayErrorCode } from './errors.ts';
import type { FailureKind } from './gateway-metrics.ts';
import { classify, RETRY_STATUS, type ForwardOptions, type ForwardTarget } from './forward.ts';
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

const codeFor = (failure: FailureKind | undefined): GatewayErrorCode =>
  failure === undefined ? 'NO_HEALTHY_UPSTREAM' : failure === 'timeout' ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_FAILED';

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
  budget.active++;
  try {
    for (let attempt = 0; ; attempt++) {
      call.signal.throwIfAborted();
      const instance = pool.pick(undefined, exclude);
      if (!instance) throw new GatewayError(codeFor(lastFailure), `no instance of pool ${pool.name} answered`);
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw new GatewayError('UPSTREAM_TIMEOUT', `pool ${pool.name} did not answer in time`);
      const isRetry = attempt > 0;
      if (isRetry) {
        budget.retrying++;
        target.retries.inc();
      }
      const started = performance.now();
      instance.inFlight++;
      instance.series.requests.inc();
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
        instance.inFlight--;
        if (isRetry) budget.retrying--;
      }
      instance.series.latency.observe((performance.now() - started) / 1000);

      if (answer && answer.status < 500) {
        pool.succeeded(instance);
        return answer;
      }
      if (answer) {
        instance.series.errors.status.inc();
        pool.failed(instance, 'status');
        failure = 'status';
      } else {
        instance.series.errors[failure!].inc();
        pool.failed(instance, failure!);
      }
      lastFailure = failure;
      const retryable = failure !== 'status' || RETRY_STATUS.has(answer!.status);
      if (!retryable || attempt >= options.retries || !budget.allows()) {
        if (answer) return answer; // the upstream's own 5xx: the caller decides
        throw new GatewayError(codeFor(failure), `pool ${pool.name}: ${failure}`);
      }
      exclude = instance;
    }
  } finally {
    budget.active--;
  }
}
