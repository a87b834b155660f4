import { assertLoopback } from '../drivers/loopback.ts';

/**
 * The work counters a lab run reads from Scalemart's /metrics: statements counted at the database
 * adapter, and cache reads per tier. Cumulative since the process started; take two and subtract.
 */
export interface WorkCounters {
  /** `scalemart_db_statements_sent`: every statement the process sent, background work included. */
  statements: number;
  /** `scalemart_cache_hits_total{tier="l1"}` and `{tier="l2"}` (stale hits included). */
  l1Hits: number;
  l2Hits: number;
  /** `scalemart_cache_misses_total`: reads no tier answered (with caching off, every read). */
  misses: number;
  /** Whether /metrics exposed the per-tier cache counters at all. */
  cacheMetrics: boolean;
}

/** Sums the samples of `name` whose labels include every given label (Prometheus text format). */
export function sumSamples(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    const brace = line.indexOf('}');
    const labelText = line[name.length] === '{' ? line.slice(name.length + 1, brace) : '';
    if (!Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`))) continue;
    const value = Number(line.slice((brace === -1 ? name.length : brace + 1)).trim().split(' ')[0]);
    if (Number.isFinite(value)) total = (total ?? 0) + value;
  }
  return total;
}

export function parseWorkCounters(text: string): WorkCounters {
  const statements = sumSamples(text, 'scalemart_db_statements_sent');
  if (statements === undefined) throw new Error('/metrics has no scalemart_db_statements_sent: cannot count database statements');
  const l1Hits = sumSamples(text, 'scalemart_cache_hits_total', { tier: 'l1' });
  const l2Hits = sumSamples(text, 'scalemart_cache_hits_total', { tier: 'l2' });
  const misses = sumSamples(text, 'scalemart_cache_misses_total');
  return {
    statements,
    l1Hits: l1Hits ?? 0,
    l2Hits: l2Hits ?? 0,
    misses: misses ?? 0,
    // A counter prom-client has never incremented has no sample, so the HELP line tells whether it exists.
    cacheMetrics: text.includes('# HELP scalemart_cache_hits_total'),
  };
}

export async function readWorkCounters(origin: string): Promise<WorkCounters> {
  assertLoopback(origin);
  const response = await fetch(`${origin}/metrics`);
  if (response.status !== 200) throw new Error(`GET ${origin}/metrics: HTTP ${response.status}`);
  return parseWorkCounters(await response.text());
}

/** What happened between two readings: statements per request and the hit ratio of each tier. */
export interface WorkDelta {
  statements: number;
  l1Hits: number;
  l2Hits: number;
  misses: number;
  /** L1 hits of all cache reads. */
  l1Ratio: number;
  /** L2 hits of the reads L1 missed (as `scalemart_cache_hit_ratio{tier="l2"}` defines it). */
  l2Ratio: number;
}

export function workBetween(before: WorkCounters, after: WorkCounters): WorkDelta {
  const l1Hits = after.l1Hits - before.l1Hits;
  const l2Hits = after.l2Hits - before.l2Hits;
  const misses = after.misses - before.misses;
  const reads = l1Hits + l2Hits + misses;
  return {
    statements: after.statements - before.statements,
    l1Hits,
    l2Hits,
    misses,
    l1Ratio: reads === 0 ? 0 : l1Hits / reads,
    l2Ratio: l2Hits + misses === 0 ? 0 : l2Hits / (l2Hits + misses),
  };
}
