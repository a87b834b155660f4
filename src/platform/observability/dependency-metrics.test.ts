import { describe, expect, it } from 'vitest';
import { createDependencyPolicy } from '../resilience/policy.ts';
import { createDependencyMetrics } from './dependency-metrics.ts';
import { createMetrics } from './metrics.ts';

describe('dependency metrics', () => {
  it('show the calls in each bulkhead at scrape time and count the calls it refused', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const observer = createDependencyMetrics(metrics)('service');
    const policy = createDependencyPolicy('payments', { timeoutMs: 5_000, maxConcurrent: 1, maxQueued: 1, observer });
    const scrape = async () => (await metrics.registry.metrics()).split('\n');
    expect(await scrape()).toContain('scalemart_dependency_calls_in_flight{dependency="payments",kind="service",state="running"} 0');

    let open!: () => void;
    const held = [policy.execute(() => new Promise<void>((resolve) => (open = resolve))), policy.execute(async () => {})];
    await expect(policy.execute(async () => {})).rejects.toThrow(/bulkhead full/);
    const during = await scrape();
    expect(during).toContain('scalemart_dependency_calls_in_flight{dependency="payments",kind="service",state="running"} 1');
    expect(during).toContain('scalemart_dependency_calls_in_flight{dependency="payments",kind="service",state="queued"} 1');
    expect(during).toContain('scalemart_dependency_bulkhead_rejections_total{dependency="payments",kind="service"} 1');
    open();
    await Promise.all(held);
    expect(await scrape()).toContain('scalemart_dependency_calls_in_flight{dependency="payments",kind="service",state="queued"} 0');
  });
});
