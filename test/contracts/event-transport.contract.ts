import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Delivery, EventEnvelope } from '../../src/platform/events/event.ts';
import { envelope } from '../../src/platform/events/outbox.ts';
import type { EventTransport, Settlement } from '../../src/platform/events/transport.ts';

/** Collects deliveries until `count` arrived (or fails after a generous deadline). */
function collector(count: number) {
  const seen: Delivery[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  return {
    seen,
    push(delivery: Delivery) {
      seen.push(delivery);
      if (seen.length === count) done();
    },
    wait: () => Promise.race([finished, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${seen.length}/${count} delivered`)), 5_000))]),
  };
}

const event = (type: string, key: string, n: number): EventEnvelope => envelope({ type, key, payload: { n } });
const ack: Settlement = { kind: 'ack' };

/** What every event transport promises; the in-process table adapter runs it now, JetStream later. */
export function eventTransportContract(name: string, open: () => Promise<{ transport: EventTransport; dispose: () => Promise<void> }>) {
  describe(`EventTransport contract: ${name}`, () => {
    let transport: EventTransport;
    let dispose: () => Promise<void>;
    beforeAll(async () => ({ transport, dispose } = await open()));
    afterAll(() => dispose());

    it('delivers every event once to each durable consumer, in order per key', async () => {
      const events = Array.from({ length: 10 }, (_, i) => event('t.a', i % 2 ? 'k1' : 'k2', i));
      const a = collector(10);
      const b = collector(10);
      const subA = transport.consume({ name: 'ca', types: ['t.a'] }, async (d) => (a.push(d), ack));
      const subB = transport.consume({ name: 'cb', types: ['t.a'] }, async (d) => (b.push(d), ack));
      await transport.publish(events);
      await Promise.all([a.wait(), b.wait()]);
      await Promise.all([subA.stop(), subB.stop()]);
      for (const got of [a.seen, b.seen]) {
        expect(got.map((d) => d.event.id)).toEqual(events.map((e) => e.id));
        const k1 = got.filter((d) => d.event.key === 'k1').map((d) => (d.event.payload as { n: number }).n);
        expect(k1).toEqual([...k1].sort((x, y) => x - y));
      }
    });

    it('drops an event published twice (dedup by id)', async () => {
      const e = event('t.dup', 'k', 1);
      await transport.publish([e]);
      await transport.publish([e]);
      const got = collector(1);
      const sub = transport.consume({ name: 'cdup', types: ['t.dup'] }, async (d) => (got.push(d), ack));
      await got.wait();
      await new Promise((r) => setTimeout(r, 300));
      await sub.stop();
      expect(got.seen).toHaveLength(1);
    });

    it('redelivers an event the consumer asks to retry, with a rising attempt number', async () => {
      await transport.publish([event('t.retry', 'k', 1), event('t.retry', 'k', 2)]);
      const got = collector(3);
      const sub = transport.consume({ name: 'cretry', types: ['t.retry'] }, async (d) => {
        got.push(d);
        return d.attempt === 1 && (d.event.payload as { n: number }).n === 1 ? { kind: 'retry', delayMs: 10 } : ack;
      });
      await got.wait();
      await sub.stop();
      expect(got.seen.map((d) => [(d.event.payload as { n: number }).n, d.attempt])).toEqual([[1, 1], [1, 2], [2, 1]]);
    });

    it('resumes a durable consumer after the last acknowledged event, and rewinds on request', async () => {
      await transport.publish([1, 2, 3].map((n) => event('t.resume', 'k', n)));
      const first = collector(2);
      const sub1 = transport.consume({ name: 'cresume', types: ['t.resume'] }, async (d) => {
        if (first.seen.length >= 2) return { kind: 'retry', delayMs: 1_000 };
        first.push(d);
        return ack;
      });
      await first.wait();
      await sub1.stop();
      expect(await transport.lag({ name: 'cresume', types: ['t.resume'] })).toBe(1);

      const second = collector(1);
      const sub2 = transport.consume({ name: 'cresume', types: ['t.resume'] }, async (d) => (second.push(d), ack));
      await second.wait();
      await sub2.stop();
      expect((second.seen[0]!.event.payload as { n: number }).n).toBe(3);
      expect(await transport.lag({ name: 'cresume', types: ['t.resume'] })).toBe(0);

      await transport.rewind({ name: 'cresume', types: ['t.resume'] }, { sequence: first.seen[0]!.sequence });
      const again = collector(3);
      const sub3 = transport.consume({ name: 'cresume', types: ['t.resume'] }, async (d) => (again.push(d), ack));
      await again.wait();
      await sub3.stop();
      expect(again.seen.map((d) => (d.event.payload as { n: number }).n)).toEqual([1, 2, 3]);
    });
  });
}
