/** Median and range of one measure across rounds: on a shared, noisy machine the spread matters as much as the centre. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function spread(values: readonly number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** `1234` or `12.3` with the given digits; thousands are not grouped so columns stay machine-readable. */
export const fixed = (value: number, digits = 0) => value.toFixed(digits);

/** `min–max` with the given digits. */
export const formatRange = (s: Spread, digits = 0) => `${fixed(s.min, digits)}–${fixed(s.max, digits)}`;

/** Latency in ms: two decimals below 10 ms, one below 100, whole above, so small values keep their detail. */
export function formatMs(ms: number): string {
  if (ms < 10) return ms.toFixed(2);
  if (ms < 100) return ms.toFixed(1);
  return ms.toFixed(0);
}

export const percent = (ratio: number, digits = 1) => `${(ratio * 100).toFixed(digits)} %`;
