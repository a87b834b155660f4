import { Client } from 'undici';
import type { UpstreamPool } from './upstream-pool.ts';

export interface HealthCheckOptions {
  /** Between the end of one check and the start of the next (HAProxy's `inter`, 2 s). */
  intervalMs: number;
  /** A check without a 2xx answer within this is a failure. */
  timeoutMs: number;
  path: string;
}

export const DEFAULT_HEALTH_CHECKS: HealthCheckOptions = Object.freeze({ intervalMs: 2_000, timeoutMs: 1_000, path: '/readyz' });

/**
 * Active checks of every instance of `pool`: `GET /readyz` on a connection of its own (so a
 * saturated traffic pool cannot fail a check), each instance on its own timer. A 2xx passes;
 * anything else, an error or the timeout fails. Returns a stop function.
 */
export function startHealthChecks(pool: UpstreamPool, options: HealthCheckOptions = DEFAULT_HEALTH_CHECKS): () => Promise<void> {
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const clients = pool.instances.map((instance) => {
    const client = new Client(instance.origin, { keepAliveTimeout: Math.max(1_000, options.intervalMs * 2), connectTimeout: options.timeoutMs });
    const check = async () => {
      let passed = false;
      try {
        const res = await client.request({ method: 'GET', path: options.path, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs });
        await res.body.dump();
        passed = res.statusCode >= 200 && res.statusCode < 300;
      } catch {
        passed = false;
      }
      if (stopped) return;
      pool.checked(instance, passed);
      schedule();
    };
    const schedule = () => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        void check();
      }, options.intervalMs);
      timer.unref();
      timers.add(timer);
    };
    void check();
    return client;
  });
  return async () => {
    stopped = true;
    for (const t of timers) clearTimeout(t);
    await Promise.all(clients.map((c) => c.destroy().catch(() => {})));
  };
}
