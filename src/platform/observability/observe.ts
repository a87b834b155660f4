import type { FastifyInstance } from 'fastify';
import { onEveryResponse } from '../http/on-every-response.ts';
import type { Metrics } from './metrics.ts';

export interface Readiness {
  /** True once migrations ran. */
  started(): boolean;
  /** True once the process is stopping: `/readyz` answers 503 so balancers stop sending it work, while it still serves. */
  draining?(): boolean;
  /** Resolves when every dependency answers; rejects with the first that does not. */
  check(): Promise<void>;
  /**
   * Dependencies the process keeps serving without (e.g. the event log: the outbox holds events
   * while it is down), with their state; shown by `/readyz` without making it fail.
   */
  degradable?(): Record<string, 'up' | 'down'>;
}

/** Records one answer in `http_request_duration_seconds{method, route, status_code}`. */
export type RecordRequest = (route: string, method: string, status: number, seconds: number) => void;

/** The request metrics' recorder, shared by the app's onResponse hook and the fast path in front of it. */
export function requestMetrics(metrics: Metrics): RecordRequest {
  // The labelled series of each route, method and status, looked up once: prom-client hashes the
  // label object on every observe otherwise.
  const series = new Map<string, Map<string, Map<number, { observe(value: number): void }>>>();
  return (route, method, status, seconds) => {
    let byMethod = series.get(route);
    if (!byMethod) series.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let histogram = byStatus.get(status);
    if (!histogram) byStatus.set(status, (histogram = metrics.httpDuration.labels({ method, route, status_code: status })));
    histogram.observe(seconds);
  };
}

/**
 * One call that gives an app its request metrics (through `record`) and its operations endpoints:
 * `/livez`, `/readyz` (503 until started and dependencies answer, and while draining) and `/metrics`.
 */
export function observe(app: FastifyInstance, record: RecordRequest, metrics: Metrics, readiness: Readiness): void {
  onEveryResponse(app, (request, reply, route) => record(route, request.method, reply.statusCode, reply.elapsedTime / 1000));

  const hidden = { schema: { hide: true } };
  app.get('/livez', hidden, async () => ({ status: 'ok' }));
  app.get('/readyz', hidden, async (_request, reply) => {
    if (!readiness.started()) return reply.code(503).send({ status: 'starting' });
    if (readiness.draining?.()) return reply.code(503).send({ status: 'draining' });
    try {
      await readiness.check();
      const dependencies = readiness.degradable?.();
      const degraded = dependencies ? Object.keys(dependencies).filter((name) => dependencies[name] === 'down') : [];
      return degraded.length > 0 ? { status: 'degraded', degraded, dependencies } : { status: 'ready', ...(dependencies ? { dependencies } : {}) };
    } catch (error) {
      return reply.code(503).send({ status: 'unavailable', reason: error instanceof Error ? error.message : 'dependency check failed' });
    }
  });
  app.get('/metrics', hidden, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
