import type { Logger } from 'pino';
import type { Balancer } from './balancers/index.ts';
import type { FailureKind } from './gateway-metrics.ts';
import type { UpstreamInstance } from './upstream-instance.ts';

/** How a pool judges its instances. Defaults in `DEFAULT_POOL_POLICY`. */
export interface PoolPolicy {
  /** Active checks: consecutive passes to come up, failures to go down (HAProxy's rise 2, fall 3). */
  rise: number;
  fall: number;
  /** Passive outlier detection (Envoy's defaults): consecutive failures that eject. */
  consecutiveFailures: number;
  /**
   * An ejection lasts base × times ejected, capped. The count decays: each `baseEjectionMs` an
   * instance spends back in rotation forgives one earlier ejection (as Envoy's multiplier decay).
   */
  baseEjectionMs: number;
  maxEjectionMs: number;
  /** Never more than this share of a pool ejected at once (a pool of one is never ejected). */
  maxEjectionPercent: number;
  /** A returning instance's share ramps from 10 % to 100 % over this window (0: no slow start). */
  slowStartMs: number;
  /** Below this share of healthy instances, balance over all of them (Envoy's panic mode). */
  panicThresholdPercent: number;
}

export const DEFAULT_POOL_POLICY: PoolPolicy = Object.freeze({
  rise: 2,
  fall: 3,
  consecutiveFailures: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 50,
  slowStartMs: 10_000,
  panicThresholdPercent: 50,
});

/** Slow start begins at this share, so a returning instance is tried at once (as Envoy's min_weight_percent). */
const MIN_RAMP = 0.1;

export interface UpstreamPool {
  readonly name: string;
  readonly instances: readonly UpstreamInstance[];
  readonly balancer: Balancer<UpstreamInstance>;
  /** An instance for the next try, or undefined when none is left (none healthy, or only `exclude`). */
  pick(key: string | undefined, exclude: UpstreamInstance | undefined): UpstreamInstance | undefined;
  /** A try that got an answer below 500. */
  succeeded(instance: UpstreamInstance): void;
  failed(instance: UpstreamInstance, kind: FailureKind): void;
  /**
   * An answer said the instance is draining (`DRAINING_HEADER`): it goes down at once, as on a
   * refused connection, unless it is the last instance taking traffic (it still serves until its
   * drain ends; its checks take it down then).
   */
  draining(instance: UpstreamInstance): void;
  /** The result of one active health check. */
  checked(instance: UpstreamInstance, passed: boolean): void;
  /** Instances up and not ejected. */
  healthy(): number;
  /** True while fewer than the panic threshold are healthy and every instance takes traffic. */
  panicking(): boolean;
  close(): Promise<void>;
}

/**
 * A pool of instances of one service with its balancer. Which instances take traffic is computed
 * when health changes (never per request): up by active checks and not ejected; in panic mode,
 * all; with none healthy, none (503 NO_HEALTHY_UPSTREAM). A refused connection marks an instance
 * down at once (as HAProxy's `observe layer4` with `on-error mark-down`): it cannot answer, and
 * its checks bring it back after `rise` passes. So does an answer that says the instance is
 * draining: it will stop answering soon, and its checks fail meanwhile. Other failures (resets,
 * timeouts, 5xx) count toward ejection, which lasts its full term unless the checks see the
 * instance go down and come back up (a crash and restart); an instance that passes checks yet
 * fails requests stays out.
 */
export function createUpstreamPool(options: {
  name: string;
  instances: UpstreamInstance[];
  balancer: Balancer<UpstreamInstance>;
  policy?: Partial<PoolPolicy>;
  logger?: Logger;
  now?: () => number;
}): UpstreamPool {
  const { name, instances, balancer, logger } = options;
  const policy: PoolPolicy = Object.freeze({ ...DEFAULT_POOL_POLICY, ...options.policy });
  const now = options.now ?? (() => performance.now());
  const maxEjected = Math.floor((instances.length * policy.maxEjectionPercent) / 100);
  let candidates: readonly UpstreamInstance[] = instances;
  let healthy = instances.length;
  let panic = false;
  let ramping = 0;
  let closed = false;

  const takesTraffic = (i: UpstreamInstance) => i.up && !i.ejected;

  function refresh(): void {
    const eligible = instances.filter(takesTraffic);
    healthy = eligible.length;
    const wasPanicking = panic;
    panic = healthy > 0 && healthy * 100 < instances.length * policy.panicThresholdPercent;
    candidates = panic ? instances.slice() : eligible;
    if (panic !== wasPanicking) logger?.warn({ pool: name, healthy, total: instances.length }, panic ? 'gateway: panic mode, balancing over every instance' : 'gateway: panic mode over');
  }

  /** Called after a change to `instance`; starts its slow start when it just became eligible again. */
  function changed(instance: UpstreamInstance, wasTakingTraffic: boolean): void {
    const takes = takesTraffic(instance);
    if (takes === wasTakingTraffic) return;
    if (takes && policy.slowStartMs > 0) {
      if (instance.ramp >= 1) ramping++;
      instance.ramp = MIN_RAMP;
      instance.rampStart = now();
    }
    logger?.info({ pool: name, instance: instance.id, up: instance.up, ejected: instance.ejected }, takes ? 'gateway: instance back in rotation' : 'gateway: instance out of rotation');
    refresh();
  }

  function updateRamps(): void {
    const t = now();
    for (const i of instances) {
      if (i.ramp >= 1) continue;
      i.ramp = Math.min(1, Math.max(MIN_RAMP, (t - i.rampStart) / policy.slowStartMs));
      if (i.ramp >= 1) ramping--;
    }
  }

  function eject(instance: UpstreamInstance): void {
    if (instance.ejected || instances.filter((i) => i.ejected).length >= maxEjected) return;
    // Time served well since the last ejection ended forgives earlier ones: an instance ejected
    // once a day is not kept out for the cap.
    const forgiven = instance.ejections > 0 ? Math.floor((now() - instance.returnedAt) / policy.baseEjectionMs) : 0;
    instance.ejections = Math.max(0, instance.ejections - forgiven) + 1;
    instance.ejected = true;
    instance.consecutiveFailures = 0;
    instance.series.ejections.inc();
    const ms = Math.min(policy.baseEjectionMs * instance.ejections, policy.maxEjectionMs);
    logger?.warn({ pool: name, instance: instance.id, ms, times: instance.ejections }, 'gateway: instance ejected');
    instance.ejectionTimer = setTimeout(() => {
      instance.ejectionTimer = undefined;
      if (closed) return;
      instance.ejected = false;
      instance.returnedAt = now();
      changed(instance, false);
    }, ms);
    instance.ejectionTimer.unref();
    changed(instance, true);
  }

  function markDown(instance: UpstreamInstance): void {
    if (!instance.up) return;
    const was = takesTraffic(instance);
    instance.up = false;
    instance.passes = 0;
    instance.checked = true; // a refused connection is evidence enough: coming back takes `rise` passes
    changed(instance, was);
  }

  return {
    name,
    instances,
    balancer,
    pick(key, exclude) {
      if (ramping > 0) updateRamps();
      return balancer.pick(candidates, key, exclude);
    },
    succeeded(instance) {
      instance.consecutiveFailures = 0;
    },
    failed(instance, kind) {
      if (kind === 'connect') return markDown(instance);
      if (++instance.consecutiveFailures >= policy.consecutiveFailures) eject(instance);
    },
    draining(instance) {
      if (!takesTraffic(instance) || healthy <= 1) return;
      logger?.info({ pool: name, instance: instance.id }, 'gateway: instance draining');
      markDown(instance);
    },
    checked(instance, passed) {
      const first = !instance.checked;
      instance.checked = true;
      if (passed) {
        instance.fails = 0;
        instance.passes++;
        if (!instance.up && (first || instance.passes >= policy.rise)) {
          instance.up = true;
          // Checks saw it go away and come back (a crash and a restart): the ejection that the
          // crash caused ends with it. An instance ejected for failing requests while its checks
          // kept passing never went down, and serves its full term.
          if (instance.ejected) {
            clearTimeout(instance.ejectionTimer);
            instance.ejectionTimer = undefined;
            instance.ejected = false;
            instance.returnedAt = now();
          }
          changed(instance, false);
        }
      } else {
        instance.passes = 0;
        instance.fails++;
        if (instance.up && (first || instance.fails >= policy.fall)) markDown(instance);
      }
    },
    healthy: () => healthy,
    panicking: () => panic,
    async close() {
      closed = true;
      for (const i of instances) clearTimeout(i.ejectionTimer);
      await Promise.all(instances.map((i) => i.client.close().catch(() => {})));
    },
  };
}
