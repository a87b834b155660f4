import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseRunOptions, runLab } from './runner.ts';

function io() {
  const text = { out: '', err: '' };
  const out = new PassThrough();
  const err = new PassThrough();
  out.on('data', (c) => (text.out += String(c)));
  err.on('data', (c) => (text.err += String(c)));
  return { streams: { out, err }, text };
}

describe('lab runner', () => {
  it('lists the scenarios', async () => {
    const { streams, text } = io();
    expect(await runLab(['list'], streams)).toBe(0);
    expect(text.out).toMatch(/^hot-read\s+GET/m);
  });

  it('refuses unknown commands, unknown scenarios and bad options without starting anything', async () => {
    for (const argv of [[], ['walk'], ['run'], ['run', 'nope'], ['run', 'hot-read', '--rounds', '2'], ['run', 'hot-read', '--connections', 'many'], ['run', 'hot-read', '--bogus']]) {
      const { streams, text } = io();
      expect(await runLab(argv, streams)).toBe(2);
      expect(text.err).toContain('Usage: scalemart lab');
    }
  });

  it('applies the defaults and reads every option', () => {
    expect(parseRunOptions([])).toEqual({ rounds: 3, durationSeconds: 10, warmupSeconds: 3, connections: 50, products: 10_000, rate: 2000, openLoopSeconds: 5, cpuRate: 3000, cpuRequests: 30_000, cpuSlices: 10, orderRate: 20, seed: 42 });
    expect(parseRunOptions(['--rounds', '5', '--duration', '2.5', '--warmup', '0', '--connections', '8', '--products', '100', '--rate', '500', '--open-seconds', '2', '--cpu-rate', '1000', '--cpu-requests', '5000', '--cpu-slices', '4', '--order-rate', '3', '--seed', '7'])).toEqual({
      rounds: 5, durationSeconds: 2.5, warmupSeconds: 0, connections: 8, products: 100, rate: 500, openLoopSeconds: 2, cpuRate: 1000, cpuRequests: 5000, cpuSlices: 4, orderRate: 3, seed: 7,
    });
  });
});
