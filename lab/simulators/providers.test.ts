import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRandom } from '../workload/zipf.ts';
import { KnobsError, defaultKnobs, drawLatency, mergeKnobs, parseKnobsPatch } from './knobs.ts';
import { createProviderSimulator, type ProviderSimulator } from './providers.ts';

const charge = { orderId: 'o-1', customerId: 'c-1', amount: 1250, currency: 'EUR' };

describe('knobs', () => {
  it('accepts a partial patch and merges it service by service', () => {
    const patch = parseKnobsPatch({ payments: { declineRate: 0.2, latencyMs: { p50: 20, p99: 400 } }, email: { hangRate: 1 } });
    const knobs = mergeKnobs(defaultKnobs(), patch);
    expect(knobs.payments).toEqual({ latencyMs: { p50: 20, p99: 400 }, errorRate: 0, hangRate: 0, declineRate: 0.2 });
    expect(knobs.email.hangRate).toBe(1);
    expect(knobs.carrier).toEqual(defaultKnobs().carrier);
  });

  it.each([
    [{ payment: {} }, /unknown service "payment"/],
    [{ payments: { errRate: 0.1 } }, /unknown knob "payments.errRate"/],
    [{ warehouse: { declineRate: 0.1 } }, /unknown knob "warehouse.declineRate"/],
    [{ carrier: { rejectRate: 1.5 } }, /carrier.rejectRate must be a number from 0 to 1/],
    [{ carrier: { errorRate: '0.5' } }, /carrier.errorRate must be a number/],
    [{ email: { latencyMs: -1 } }, /email.latencyMs must be/],
    [{ email: { latencyMs: { p50: 100, p99: 10 } } }, /p50 ≤ p99/],
    [{ email: { latencyMs: { p50: 10 } } }, /email.latencyMs must be/],
    [[], /must be a JSON object/],
  ])('rejects %j', (patch, message) => {
    expect(() => parseKnobsPatch(patch)).toThrow(KnobsError);
    expect(() => parseKnobsPatch(patch)).toThrow(message);
  });

  it('draws log-normal latencies whose median and 99th percentile match the knob', () => {
    const random = createRandom(7);
    const draws = Array.from({ length: 20_000 }, () => drawLatency({ p50: 20, p99: 400 }, random)).sort((a, b) => a - b);
    expect(draws[10_000]).toBeGreaterThan(18);
    expect(draws[10_000]).toBeLessThan(22);
    expect(draws[19_800]).toBeGreaterThan(340);
    expect(draws[19_800]).toBeLessThan(470);
    expect(drawLatency(15, random)).toBe(15);
  });
});

describe('provider simulator', () => {
  let sim: ProviderSimulator;
  const post = (route: string, body: unknown, key?: string) =>
    fetch(sim.url + route, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
      body: JSON.stringify(body),
    });

  beforeAll(async () => void (sim = await createProviderSimulator({ seed: 3 })));
  afterAll(() => sim.close());
  beforeEach(() => {
    sim.clearLog();
    sim.setKnobs(defaultKnobs());
  });

  it('charges once per idempotency key and answers a repeat with the first answer', async () => {
    const first = await post('/payments/charges', charge, 'k-once');
    const again = await post('/payments/charges', charge, 'k-once');
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(await again.json()).toEqual(await first.json());
    expect(sim.log().charges).toEqual([expect.objectContaining({ idempotencyKey: 'k-once', orderId: 'o-1', amount: 1250, currency: 'EUR' })]);
    expect(sim.log().requests.payments).toBe(2);
  });

  it('refuses a request without an Idempotency-Key, or a key reused for another request', async () => {
    expect((await post('/payments/charges', charge)).status).toBe(400);
    await post('/warehouse/orders', { orderId: 'o-1', items: [{ sku: 'A', quantity: 1 }] }, 'k-reuse');
    expect((await post('/warehouse/orders', { orderId: 'o-2', items: [{ sku: 'A', quantity: 1 }] }, 'k-reuse')).status).toBe(409);
    expect(sim.log().warehouse).toHaveLength(1);
  });

  it('validates knobs over HTTP: 400 with the issues, nothing changed', async () => {
    const bad = await fetch(`${sim.url}/knobs`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"payments":{"errorRate":2}}' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ issues: ['payments.errorRate must be a number from 0 to 1'] });
    const good = await fetch(`${sim.url}/knobs`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"carrier":{"rejectRate":1}}' });
    expect(await good.json()).toMatchObject({ carrier: { rejectRate: 1 }, payments: { errorRate: 0 } });
    expect(await (await fetch(`${sim.url}/knobs`)).json()).toEqual(sim.knobs());
  });

  it('answers 503 at errorRate 1 without recording anything', async () => {
    sim.setKnobs({ payments: { errorRate: 1 } });
    expect((await post('/payments/charges', charge, 'k-503')).status).toBe(503);
    expect(sim.log().charges).toEqual([]);
  });

  it('declines and rejects at rate 1, recording no charge or shipment', async () => {
    sim.setKnobs({ payments: { declineRate: 1 }, carrier: { rejectRate: 1 } });
    const declined = await post('/payments/charges', charge, 'k-decline');
    expect([declined.status, await declined.json()]).toEqual([402, { status: 'declined', reason: 'card_declined' }]);
    const address = { name: 'A', line1: '1 Main St', city: 'Lyon', postalCode: '69001', country: 'FR' };
    const rejected = await post('/carrier/shipments', { orderId: 'o-1', address, items: [{ sku: 'A', quantity: 1 }] }, 'k-reject');
    expect([rejected.status, await rejected.json()]).toMatchObject([422, { status: 'rejected' }]);
    expect(sim.log()).toMatchObject({ charges: [], shipments: [], declines: [{ orderId: 'o-1' }], rejections: [{ orderId: 'o-1' }] });
  });

  it('accepts raw RFC 822 email, deduplicated by Message-ID, and JSON email', async () => {
    const raw = 'From: shop@example.com\r\nTo: ada@example.com\r\nSubject: Your order\r\nMessage-ID: <m-1@example.com>\r\n\r\nThanks!';
    const send = () => fetch(`${sim.url}/email/messages`, { method: 'POST', headers: { 'content-type': 'message/rfc822' }, body: raw });
    expect((await send()).status).toBe(202);
    expect((await send()).status).toBe(202);
    expect((await post('/email/messages', { to: ['bob@example.com'], subject: 'Hi' }, 'k-json')).status).toBe(202);
    expect(sim.log().emails).toEqual([
      expect.objectContaining({ idempotencyKey: '<m-1@example.com>', to: 'ada@example.com', subject: 'Your order' }),
      expect.objectContaining({ idempotencyKey: 'k-json', to: 'bob@example.com', subject: 'Hi' }),
    ]);
  });

  it('clears the log on DELETE /log but still refunds an earlier charge', async () => {
    const { id } = (await (await post('/payments/charges', charge, 'k-keep')).json()) as { id: string };
    expect((await fetch(`${sim.url}/log`, { method: 'DELETE' })).status).toBe(204);
    expect(sim.log().charges).toEqual([]);
    expect((await post('/payments/refunds', { chargeId: id, amount: 1250 }, 'k-refund')).status).toBe(201);
    expect((await post('/payments/refunds', { chargeId: id, amount: 1 }, 'k-refund-2')).status).toBe(400);
    expect(sim.log().refunds).toEqual([expect.objectContaining({ chargeId: id, amount: 1250 })]);
  });
});

describe('provider simulator process', () => {
  it('prints its origin first, applies --knobs, and rejects bad ones', async () => {
    const node = path.resolve('node_modules/.bin/node');
    const child = spawn(node, ['lab/simulators/providers.ts', '--port', '0', '--knobs', '{"warehouse":{"errorRate":1}}'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
    const url = /^listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(String(chunk))?.[1];
    try {
      expect(url).toBeDefined();
      const knobs = (await (await fetch(`${url}/knobs`)).json()) as { warehouse: { errorRate: number } };
      expect(knobs.warehouse.errorRate).toBe(1);
    } finally {
      child.kill('SIGTERM');
    }
    expect((await once(child, 'exit'))[0]).toBe(0);

    const bad = spawn(node, ['lab/simulators/providers.ts', '--knobs', '{"warehouse":{"oops":1}}'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    bad.stderr.on('data', (c) => (stderr += String(c)));
    expect((await once(bad, 'exit'))[0]).toBe(1);
    expect(stderr).toMatch(/unknown knob "warehouse.oops"/);
  });
});
