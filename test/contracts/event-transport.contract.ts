import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Delivery, EventContext, EventEnvelope } from '../../src/platform/events/event.ts';
import { envelope } from '../../src/platform/events/outbox.ts';
import type { EventTransport, Settlement, Subscription } from '../../src/platform/events/transport.ts';

/** Collects deliveries until `count` arrived (or fails after a generous deadline). */
function collector(count: number, deadlineMs = 10_000) {
  const seen: Delivery[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  return {
    seen,
    push(delivery: Delivery) {
      seen.push(delivery);
      if (seen.length === count) done();
    },
    wait: () => Promise.race([finished, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${seen.length}/${count} delivered`)), deadlineMs))]),
  };
}

// envelope() completes id and time only; the context is set the way the outbox would carry it.
const event = (type: string, key: string, n: number, context?: EventContext): EventEnvelope => ({ ...envelope({ type, key, payload: { n } }), ...(context ? { context } : {}) });
const n = (d: Delivery) => (d.event.payload as { n: number }).n;
const ack: Settlement = { kind: 'ack' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What differs between adapters by design; each case states which behaviour it expects. */
export interface TransportCapabilities {
  /**
   * Several subscribers of one group deliver at the same time (JetStream: one puller per
   * partition). False: one subscriber holds the group and the others wait (the table log's lease).
   */
  parallelGroup: boolean;
  /** A `retry` holds back only the retried key's partition; false: the whole group waits for it. */
  retryBlocksOnlyItsPartition: boolean;
}

export interface OpenedTransport {
  transport: EventTransport;
  capabilities: TransportCapabilities;
  dispose: () => Promise<void>;
}

/** What every event transport promises; the table log (PGlite, PostgreSQL) and JetStream run it. */
export function eventTransportContract(name: string, open: () => Promise<OpenedTransport>) {
  describe(`EventTransport contract: ${name}`, () => {
    let transport: EventTransport;
    let capabilities: TransportCapabilities;
    let dispose: (() => Promise<void>) | undefined;
    const running: Subscription[] = [];
    const consume = (...args: Parameters<EventTransport['consume']>) => {
      const sub = transport.consume(...args);
      running.push(sub);
      return sub;
    };
    beforeAll(async () => ({ transport, capabilities, dispose } = await open()));
    // Subscriptions a failed case left running are stopped before the transport goes.
    afterAll(async () => (await Promise.all(running.map((s) => s.stop())), await dispose?.()));

    it('delivers every event once to each group, in order per key, and none of other types', async () => {
      const events = Array.from({ length: 10 }, (_, i) => event(i % 3 ? 'ct.basic.a' : 'ct.basic.b', i % 2 ? 'k1' : 'k2', i));
      const others = [event('ct.basic.c', 'k1', 100), event('ct.other.a', 'k1', 101)];
      const a = collector(10);
      const b = collector(10);
      const subA = consume({ name: 'ct.basic-a', types: ['ct.basic.a', 'ct.basic.b'] }, async (d) => (a.push(d), ack));
      const subB = consume({ name: 'ct.basic_b', types: ['ct.basic.b', 'ct.basic.a'] }, async (d) => (b.push(d), ack));
      await transport.publish([...events.slice(0, 5), ...others, ...events.slice(5)]);
      await Promise.all([a.wait(), b.wait()]);
      await sleep(200);
      await Promise.all([subA.stop(), subB.stop()]);
      for (const got of [a.seen, b.seen]) {
        expect([...got.map((d) => d.event.id)].sort()).toEqual(events.map((e) => e.id).sort());
        for (const key of ['k1', 'k2']) {
          const ns = got.filter((d) => d.event.key === key).map(n);
          expect(ns).toEqual(events.filter((e) => e.key === key).map((e) => (e.payload as { n: number }).n));
        }
      }
    });

    // Dedup is bounded differently by design: the table log drops a repeated id forever (a unique
    // key), JetStream only within its duplicate window (EVENTS_DEDUP_WINDOW_SECONDS). A republish
    // later than that is delivered again, and the consumers' inbox (src/platform/events/consumer.ts)
    // is what keeps a transactional consumer exactly once: every transport is at least once.
    it('drops an event published twice (dedup by id)', async () => {
      const e = event('ct.dup.x', 'k', 1);
      await transport.publish([e]);
      await transport.publish([e]);
      const got = collector(1);
      const sub = consume({ name: 'ct.dup', types: ['ct.dup.x'] }, async (d) => (got.push(d), ack));
      await got.wait();
      await sleep(300);
      await sub.stop();
      expect(got.seen).toHaveLength(1);
    });

    it('redelivers an event the consumer asks to retry, with a rising attempt number', async () => {
      await transport.publish([event('ct.retry.x', 'k', 1), event('ct.retry.x', 'k', 2)]);
      const got = collector(3);
      const sub = consume({ name: 'ct.retry', types: ['ct.retry.x'] }, async (d) => {
        got.push(d);
        return d.attempt === 1 && n(d) === 1 ? { kind: 'retry', delayMs: 10 } : ack;
      });
      await got.wait();
      await sub.stop();
      expect(got.seen.map((d) => [n(d), d.attempt])).toEqual([[1, 1], [1, 2], [2, 1]]);
    });

    it('resumes a group after the last acknowledged event, and rewinds to a sequence on request', async () => {
      const spec = { name: 'ct.resume', types: ['ct.resume.x'] };
      await transport.publish([1, 2, 3].map((i) => event('ct.resume.x', 'k', i)));
      expect(await transport.lag(spec)).toBe(3);
      const first = collector(2);
      const sub1 = consume(spec, async (d) => {
        if (first.seen.length >= 2) return { kind: 'retry', delayMs: 1_000 };
        first.push(d);
        return ack;
      });
      await first.wait();
      await sub1.stop();
      expect(await transport.lag(spec)).toBe(1);

      const second = collector(1);
      const sub2 = consume(spec, async (d) => (second.push(d), ack));
      await second.wait();
      await sub2.stop();
      expect(n(second.seen[0]!)).toBe(3);
      expect(await transport.lag(spec)).toBe(0);

      await transport.rewind(spec, { sequence: first.seen[0]!.sequence });
      const again = collector(3);
      const sub3 = consume(spec, async (d) => (again.push(d), ack));
      await again.wait();
      await sub3.stop();
      expect(again.seen.map(n)).toEqual([1, 2, 3]);
    });

    it('rewinds a group to a time: it receives again what was appended from then on', async () => {
      const spec = { name: 'ct.rewind-time', types: ['ct.rwtime.x'] };
      await transport.publish([1, 2, 3].map((i) => event('ct.rwtime.x', `k${i}`, i)));
      await sleep(150);
      const from = new Date();
      await sleep(150);
      await transport.publish([4, 5, 6].map((i) => event('ct.rwtime.x', `k${i}`, i)));
      const all = collector(6);
      const sub1 = consume(spec, async (d) => (all.push(d), ack));
      await all.wait();
      await sub1.stop();

      await transport.rewind(spec, { time: from });
      expect(await transport.lag(spec)).toBe(3);
      const again = collector(3);
      const sub2 = consume(spec, async (d) => (again.push(d), ack));
      await again.wait();
      await sleep(200);
      await sub2.stop();
      expect(again.seen.map(n).sort()).toEqual([4, 5, 6]);
    });

    it('keeps per-key order and handles each event once with three subscribers of one group', async () => {
      const spec = { name: 'ct.pullers', types: ['ct.pullers.x'] };
      const keys = Array.from({ length: 20 }, (_, i) => `key-${i}`);
      const events = Array.from({ length: 300 }, (_, i) => event('ct.pullers.x', keys[(i * 7) % 20]!, i));
      const got = collector(300, 20_000);
      const handledBy = new Map<string, number[]>();
      const subs = [0, 1, 2].map((who) => consume(spec, async (d) => {
        got.push(d);
        handledBy.set(d.event.id, [...(handledBy.get(d.event.id) ?? []), who]);
        await sleep(Math.random() * 3);
        return ack;
      }));
      for (let i = 0; i < events.length; i += 50) await transport.publish(events.slice(i, i + 50));
      await got.wait();
      await sleep(300);
      await Promise.all(subs.map((s) => s.stop()));

      expect(got.seen).toHaveLength(300);
      expect(new Set(got.seen.map((d) => d.event.id)).size).toBe(300);
      for (const key of keys) {
        const ns = got.seen.filter((d) => d.event.key === key).map(n);
        expect(ns).toEqual([...ns].sort((x, y) => x - y));
      }
      const subscribersThatHandled = new Set([...handledBy.values()].flat()).size;
      if (capabilities.parallelGroup) expect(subscribersThatHandled).toBeGreaterThan(1);
      else expect(subscribersThatHandled).toBe(1);
      expect(await transport.lag(spec)).toBe(0);
    });

    it('broadcasts every event published after subscribing to every subscriber of one name', async () => {
      const spec = { name: 'ct.broadcast', types: ['ct.bcast.x'], delivery: 'broadcast' as const };
      await transport.publish([1, 2].map((i) => event('ct.bcast.x', 'k', -i)));
      const a = collector(20);
      const b = collector(20);
      const subA = consume(spec, async (d) => (a.push(d), ack));
      const subB = consume(spec, async (d) => (b.push(d), ack));
      const events = Array.from({ length: 20 }, (_, i) => event('ct.bcast.x', `k${i % 4}`, i));
      await transport.publish(events.slice(0, 10));
      await transport.publish(events.slice(10));
      await Promise.all([a.wait(), b.wait()]);
      await sleep(200);
      await Promise.all([subA.stop(), subB.stop()]);
      for (const got of [a.seen, b.seen]) expect(got.map((d) => d.event.id)).toEqual(events.map((e) => e.id));
      expect(await transport.lag(spec)).toBe(0);
    });

    it('holds back a retried key for its delay; other partitions flow meanwhile (unless the adapter blocks the group)', async () => {
      const spec = { name: 'ct.slow-retry', types: ['ct.slowretry.x'] };
      const stuck = event('ct.slowretry.x', 'stuck', 0);
      const later = event('ct.slowretry.x', 'stuck', 1);
      const others = Array.from({ length: 16 }, (_, i) => event('ct.slowretry.x', `other-${i}`, 10 + i));
      await transport.publish([stuck, later, ...others]);
      const got = collector(19);
      const sub = consume(spec, async (d) => {
        got.push(d);
        return d.event.id === stuck.id && d.attempt === 1 ? { kind: 'retry', delayMs: 500 } : ack;
      });
      await got.wait();
      await sub.stop();
      const at = (id: string, attempt = 1) => got.seen.findIndex((d) => d.event.id === id && d.attempt === attempt);
      // The retried key's order holds in every adapter: its next event waits for the retry.
      expect(at(stuck.id, 2)).toBeGreaterThan(at(stuck.id, 1));
      expect(at(later.id)).toBeGreaterThan(at(stuck.id, 2));
      const handledWhileWaiting = others.filter((e) => at(e.id) < at(stuck.id, 2)).length;
      if (capabilities.retryBlocksOnlyItsPartition) expect(handledWhileWaiting).toBeGreaterThan(0);
      else expect(handledWhileWaiting).toBe(0);
    });

    it('carries the causing context (request id, trace parent) with the event', async () => {
      const context = { requestId: 'req-42', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
      const withContext = event('ct.context.x', 'k', 1, context);
      const without = event('ct.context.x', 'k', 2);
      await transport.publish([withContext, without]);
      const got = collector(2);
      const sub = consume({ name: 'ct.context', types: ['ct.context.x'] }, async (d) => (got.push(d), ack));
      await got.wait();
      await sub.stop();
      expect(got.seen[0]!.event.context).toEqual(context);
      expect(got.seen[0]!.event).toEqual(withContext);
      expect(got.seen[1]!.event).toEqual(without);
      expect(got.seen[1]!.event.context).toBeUndefined();
    });

    it('carries any JSON payload and key, field for field: quotes, backslashes, non-ASCII, nesting, nulls, large numbers', async () => {
      const awkward: EventEnvelope[] = [
        { ...envelope({ type: 'ct.payload.x', key: 'k "quoted", {braced}', payload: { text: 'a "b" \\ c \\\\ d', nested: { list: [1, 'two', null, { three: [3] }] } } }) },
        { ...envelope({ type: 'ct.payload.x', key: 'k\\back', payload: { text: 'café ✓ 日本 😀 \n\t', empty: '', none: null } }), context: { requestId: 'req "7"' } },
        { ...envelope({ type: 'ct.payload.x', key: 'k3', payload: { big: 9007199254740991, float: 0.1, negative: -7.5e-8, flag: false, list: [] } }) },
      ];
      await transport.publish(awkward);
      const got = collector(awkward.length);
      const sub = consume({ name: 'ct.payload', types: ['ct.payload.x'] }, async (d) => (got.push(d), ack));
      await got.wait();
      await sub.stop();
      // Three keys: each arrives once, whatever order the keys interleave in.
      expect([...got.seen].map((d) => d.event).sort((a, b) => a.id.localeCompare(b.id))).toEqual([...awkward].sort((a, b) => a.id.localeCompare(b.id)));
    });

    it('reads the log from a sequence, in order, for rebuilding read models', async () => {
      const events = Array.from({ length: 5 }, (_, i) => event('ct.read.x', `k${i}`, i));
      await transport.publish(events);
      const got = collector(5);
      const sub = consume({ name: 'ct.read', types: ['ct.read.x'] }, async (d) => (got.push(d), ack));
      await got.wait();
      await sub.stop();
      const from = Math.min(...got.seen.map((d) => d.sequence));

      const firstThree = await transport.read(from, 3);
      expect(firstThree.map((d) => d.event)).toEqual(events.slice(0, 3));
      const rest = await transport.read(from, 1_000);
      expect(rest.map((d) => d.event)).toEqual(events);
      expect(rest.map((d) => d.sequence)).toEqual([...rest.map((d) => d.sequence)].sort((x, y) => x - y));
      expect(rest.every((d) => d.attempt === 1)).toBe(true);
      expect(await transport.read(rest.at(-1)!.sequence + 1, 10)).toEqual([]);
    });
  });
}
