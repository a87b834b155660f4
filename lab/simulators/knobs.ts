/**
 * How badly each simulated outside system behaves. Every knob defaults to a healthy, instant
 * system; the lab and the crash tests turn them to make it slow, refusing, failing or hung.
 */

/** A fixed delay, or a log-normal distribution fitted to its median and 99th percentile. */
export type Latency = number | { p50: number; p99: number };

export interface ServiceKnobs {
  latencyMs: Latency;
  /** Fraction of requests answered 503 before doing anything. */
  errorRate: number;
  /** Fraction of requests that are carried out but never answered, until the client gives up. */
  hangRate: number;
}

export interface Knobs {
  payments: ServiceKnobs & { declineRate: number };
  carrier: ServiceKnobs & { rejectRate: number };
  warehouse: ServiceKnobs;
  email: ServiceKnobs;
}

export type ServiceName = keyof Knobs;
export type KnobsPatch = { [S in ServiceName]?: Partial<Knobs[S]> };

const healthy: ServiceKnobs = { latencyMs: 0, errorRate: 0, hangRate: 0 };

export function defaultKnobs(): Knobs {
  return {
    payments: { ...healthy, declineRate: 0 },
    carrier: { ...healthy, rejectRate: 0 },
    warehouse: { ...healthy },
    email: { ...healthy },
  };
}

/** The patch names a knob that does not exist or gives it a value out of range. */
export class KnobsError extends Error {
  override name = 'KnobsError';
  readonly issues: string[];

  constructor(issues: string[]) {
    super(`invalid knobs: ${issues.join('; ')}`);
    this.issues = issues;
  }
}

const rates: Record<ServiceName, readonly string[]> = {
  payments: ['errorRate', 'hangRate', 'declineRate'],
  carrier: ['errorRate', 'hangRate', 'rejectRate'],
  warehouse: ['errorRate', 'hangRate'],
  email: ['errorRate', 'hangRate'],
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isDelay = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 600_000;

/**
 * Checks a partial update (from PUT /knobs or --knobs) and returns it typed. Unknown services
 * and knobs are errors, so a typo never silently leaves a system healthy.
 */
export function parseKnobsPatch(input: unknown): KnobsPatch {
  const issues: string[] = [];
  if (!isObject(input)) throw new KnobsError(['knobs must be a JSON object']);
  for (const [service, value] of Object.entries(input)) {
    if (!(service in rates)) {
      issues.push(`unknown service "${service}" (expected ${Object.keys(rates).join(', ')})`);
      continue;
    }
    if (!isObject(value)) {
      issues.push(`${service} must be an object`);
      continue;
    }
    const allowed = rates[service as ServiceName];
    for (const [knob, v] of Object.entries(value)) {
      const at = `${service}.${knob}`;
      if (knob === 'latencyMs') {
        if (isDelay(v)) continue;
        if (isObject(v) && Object.keys(v).every((k) => k === 'p50' || k === 'p99') && isDelay(v.p50) && isDelay(v.p99) && v.p50 > 0 && v.p99 >= v.p50) continue;
        issues.push(`${at} must be a number of ms (0 to 600000) or {p50, p99} with 0 < p50 ≤ p99`);
      } else if (allowed.includes(knob)) {
        if (!(typeof v === 'number' && v >= 0 && v <= 1)) issues.push(`${at} must be a number from 0 to 1`);
      } else {
        issues.push(`unknown knob "${at}" (expected latencyMs, ${allowed.join(', ')})`);
      }
    }
  }
  if (issues.length) throw new KnobsError(issues);
  return input as KnobsPatch;
}

/** A new Knobs with the patch laid over `current`, service by service. */
export function mergeKnobs(current: Knobs, patch: KnobsPatch): Knobs {
  return {
    payments: { ...current.payments, ...patch.payments },
    carrier: { ...current.carrier, ...patch.carrier },
    warehouse: { ...current.warehouse, ...patch.warehouse },
    email: { ...current.email, ...patch.email },
  };
}

// The standard normal's 99th percentile: p99 = p50 · e^(z99·σ) fixes σ.
const Z99 = 2.3263478740408408;

/**
 * Draws one delay. A log-normal's median is e^μ, so μ = ln p50 and σ = ln(p99/p50)/z99: the
 * long right tail real services show, from two numbers anyone can read off a dashboard.
 */
export function drawLatency(latency: Latency, random: () => number): number {
  if (typeof latency === 'number') return latency;
  const sigma = Math.log(latency.p99 / latency.p50) / Z99;
  if (sigma === 0) return latency.p50;
  // Box–Muller; 1 - u keeps the logarithm away from 0.
  const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return latency.p50 * Math.exp(sigma * normal);
}
