import type { EventEnvelope } from '../../src/platform/events/event.ts';
import type { EventTransport } from '../../src/platform/events/transport.ts';

/** Helpers of the outbox relays' suites (relay.test.ts, wal-relay.test.ts). */

export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A transport that records every event handed to it, in the order the publishes began, and takes a moment per publish. */
export function recordingTransport(stream: EventEnvelope[], publishMs = 3): EventTransport {
  const unused = () => {
    throw new Error('not used by the relay');
  };
  return {
    async publish(events) {
      stream.push(...events);
      await new Promise((r) => setTimeout(r, publishMs));
    },
    consume: unused,
    rewind: unused,
    lag: unused,
    read: unused,
    health: () => ({ up: true }),
    close: async () => undefined,
  };
}

/** Checks that, for every key, the first copy of each event arrives in the order the events were appended. */
export function firstCopiesInKeyOrder(stream: readonly EventEnvelope[]): boolean {
  const seen = new Set<string>();
  const last = new Map<string, number>();
  for (const event of stream) {
    if (seen.has(event.id)) continue;
    seen.add(event.id);
    const n = (event.payload as { n: number }).n;
    if ((last.get(event.key) ?? -1) > n) return false;
    last.set(event.key, n);
  }
  return true;
}

/** Events whose payloads hold what JSON and array literals quote: quotes, backslashes, braces, commas, non-ASCII, nesting, nulls. */
export const awkward = [
  { type: 'test.thing.happened' as const, key: 'k "1"', payload: { n: 1, text: 'a "quoted", {braced} \\ back\\slash', nested: { list: [1, 'two', null, { three: 3 }] } } },
  { type: 'test.thing.happened' as const, key: 'k\\2', payload: { n: 2, text: 'café ✓ 日本 \n newline\ttab', empty: '' }, occurredAt: '2026-12-03T06:00:00.123Z', context: { requestId: 'req-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } },
  { type: 'test.thing.happened' as const, key: 'k3', payload: { n: 3, big: 12345678901234, float: 0.1, negative: -7, flag: false } },
];

