import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../../../test/support/postgres.ts';
import type { Database } from '../db/database.ts';
import { migrate } from '../db/migrations.ts';
import { createPgliteDatabase } from '../db/pglite.adapter.ts';
import { createPostgresDatabase } from '../db/postgres.adapter.ts';
import { createLogger } from '../observability/logger.ts';
import type { EventEnvelope } from './event.ts';
import { eventMigrations } from './events.schema.ts';
import { appendToOutbox } from './outbox.ts';
import { createOutboxRelay, type OutboxRelay } from './relay.ts';
import { awkward, firstCopiesInKeyOrder, recordingTransport, until } from '../../../test/support/relay.ts';

const logger = createLogger('silent');
const EVENTS = 2_000;
const KEYS = 25;

/** Appends the awkward events and publishes them: the relay hands the transport what was appended, field for field, in order. */
async function expectRoundTrip(db: Database): Promise<void> {
  const appended = await db.transaction((tx) => appendToOutbox<{ 'test.thing.happened': Record<string, unknown> }>(tx, awkward));
  const stream: EventEnvelope[] = [];
  const relay = createOutboxRelay({ db, transport: recordingTransport(stream, 0), logger });
  expect(await relay.publishPending()).toBe(awkward.length);
  expect(stream).toEqual(appended);
  expect(stream[1]).toMatchObject({ key: 'k\\2', occurredAt: '2026-12-03T06:00:00.123Z', context: { requestId: 'req-1' } });
  expect(stream[0]!.context).toBeUndefined();
}

describe('two outbox relays on one PostgreSQL outbox', () => {
  let scratch: ScratchDatabase;
  const pools: Database[] = [];
  const relays: OutboxRelay[] = [];
  const pool = () => {
    const db = createPostgresDatabase({ connectionString: scratch.url, poolSize: 4 });
    pools.push(db);
    return db;
  };
  const fill = async (db: Database) => {
    await db.query('truncate events.outbox');
    // Several transactions, so the relays start while rows are still arriving.
    for (let from = 0; from < EVENTS; from += 250) {
      await db.transaction((tx) =>
        appendToOutbox<{ 'test.thing.happened': { n: number } }>(tx, Array.from({ length: 250 }, (_, i) => ({ type: 'test.thing.happened' as const, key: `k${(from + i) % KEYS}`, payload: { n: from + i } }))),
      );
    }
  };

  beforeAll(async () => {
    scratch = await createScratchDatabase('scalemart_relay');
    await migrate(pool(), 'events', eventMigrations);
  });
  afterEach(async () => {
    await Promise.all(relays.splice(0).map((relay) => relay.stop()));
  });
  afterAll(async () => {
    await Promise.all(pools.splice(0).map((db) => db.close()));
    await scratch.drop();
  });

  it('publishes what was appended, field for field, whatever its payload holds', async () => {
    const db = pool();
    await db.query('truncate events.outbox');
    await expectRoundTrip(db);
  });

  it('publishes each of 2 000 events once, in per-key order, taking turns on the outbox', async () => {
    const stream: EventEnvelope[] = [];
    const reported: { count: number; ms: number }[] = [];
    const db = pool();
    const make = () => {
      const relay = createOutboxRelay({ db: pool(), transport: recordingTransport(stream), logger }, { batchSize: 100, idleMs: 5, onPublished: (count, ms) => void reported.push({ count, ms }) });
      relays.push(relay);
      return relay;
    };
    const [a, b] = [make(), make()];
    const filling = fill(db);
    a.start();
    b.start();
    await filling;
    await until(async () => (await a.pending()) === 0, 'the outbox to drain');

    const ids = new Set(stream.map((e) => e.id));
    expect(ids.size).toBe(EVENTS);
    expect(stream.length - ids.size).toBe(0); // no double publishes while nobody crashes
    expect(a.stats().published + b.stats().published).toBe(stream.length);
    expect(reported.reduce((sum, r) => sum + r.count, 0)).toBe(stream.length);
    expect(reported.every((r) => r.ms >= 0)).toBe(true);
    expect(firstCopiesInKeyOrder(stream)).toBe(true);
    // They really raced: at some point one of them found the other publishing.
    expect(a.stats().contended + b.stats().contended).toBeGreaterThan(0);
  });

  it('a relay that dies between publish and commit leaves its batch to the other, which republishes it first', async () => {
    const stream: EventEnvelope[] = [];
    const db = pool();
    await fill(db);
    const healthy = recordingTransport(stream);
    // Publishes, then "dies" before its transaction commits the marks.
    const dying = createOutboxRelay({ db: pool(), transport: { ...healthy, publish: async (events) => (await healthy.publish(events), Promise.reject(new Error('killed'))) }, logger }, { batchSize: 100 });
    await expect(dying.publishPending()).rejects.toThrow('killed');
    expect(await dying.pending()).toBe(EVENTS);

    const survivor = createOutboxRelay({ db: pool(), transport: healthy, logger }, { batchSize: 100, idleMs: 5 });
    relays.push(survivor);
    survivor.start();
    await until(async () => (await survivor.pending()) === 0, 'the outbox to drain');

    expect(new Set(stream.map((e) => e.id)).size).toBe(EVENTS);
    // The double work is the dead relay's one batch, and nothing more.
    expect(stream.length - EVENTS).toBe(100);
    expect(survivor.stats().published).toBe(EVENTS);
    expect(firstCopiesInKeyOrder(stream)).toBe(true);
  });
});

describe('the outbox relay, woken by a commit', () => {
  let inner: Database;
  let relay: OutboxRelay | undefined;

  beforeAll(async () => {
    inner = await createPgliteDatabase({ dataDir: 'memory://' });
    await migrate(inner, 'events', eventMigrations);
  });
  afterEach(async () => {
    await relay?.stop();
    relay = undefined;
  });
  afterAll(() => inner?.close());

  it('publishes what was appended, field for field, on PGlite too', async () => {
    await expectRoundTrip(inner);
  });

  it('publishes an event whose nudge came while a pass was finding the outbox empty at once, not after its idle interval', async () => {
    // The relay's read is held after it found nothing, as a busy process might hold it, until the
    // event has been committed and the relay nudged: the nudge lands mid-pass, before the relay sleeps.
    let holdRead: (() => Promise<void>) | undefined;
    const db: Database = {
      ...inner,
      query: async (sql, params) => {
        const result = await inner.query(sql, params);
        if (/^select seq, id/.test(sql) && holdRead) {
          const hold = holdRead;
          holdRead = undefined;
          await hold();
        }
        return result as never;
      },
    };
    const stream: EventEnvelope[] = [];
    let committedAt = 0;
    holdRead = async () => {
      await inner.transaction((tx) => appendToOutbox<{ 'test.thing.happened': { n: number } }>(tx, [{ type: 'test.thing.happened', key: 'k', payload: { n: 1 } }]));
      committedAt = performance.now();
      relay!.nudge();
    };
    relay = createOutboxRelay({ db, transport: recordingTransport(stream, 0), logger }, { idleMs: 10_000 });
    relay.start();
    await until(() => stream.length === 1, 'the event to be published', 5_000);
    // Without the nudge kept, the relay slept its 10 s idle interval first.
    expect(performance.now() - committedAt).toBeLessThan(1_000);
    expect((stream[0]!.payload as { n: number }).n).toBe(1);
  });
});
