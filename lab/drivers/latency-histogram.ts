import * as hdr from 'hdr-histogram-js';

/** Latency percentiles in milliseconds. Never a mean: latency is not normally distributed. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface LatencyHistogram {
  /** Records one latency in milliseconds (fractions kept to the microsecond). */
  record(ms: number): void;
  summary(): LatencySummary;
}

// Microsecond resolution up to 2 minutes, 3 significant digits: every percentile is within 0.1 %.
const HIGHEST_US = 120_000_000;

/**
 * An HdrHistogram in microseconds. The pure-JS build (no WebAssembly) is enough at the rates the
 * lab generates and needs no async initialisation.
 */
export function createLatencyHistogram(): LatencyHistogram {
  const histogram = hdr.build({
    bitBucketSize: 32,
    autoResize: false,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
  const us = (ms: number) => Math.min(HIGHEST_US, Math.max(1, Math.round(ms * 1000)));
  const ms = (valueUs: number) => valueUs / 1000;
  return {
    record: (latencyMs) => histogram.recordValue(us(latencyMs)),
    summary() {
      const count = histogram.totalCount;
      if (count === 0) return { count, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
      const at = (p: number) => ms(histogram.getValueAtPercentile(p));
      return { count, p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: ms(histogram.maxValue) };
    },
  };
}
