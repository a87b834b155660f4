import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startStandalonePostgres, type StandalonePostgres } from '../../app/infra/standalone-postgres.ts';
import { awkward, firstCopiesInKeyOrder, recordingTransport, until } from '../../../test/support/relay.ts';
import type { Database } from '../db/database.ts';
import { createPostgresDatabase } from '../db/postgres.adapter.ts';
import { createLogger } from '../observability/logger.ts';
import type { EventEnvelope } from './event.ts';
import { appendToOutbox } from './outbox.ts';
import { migrate } from '../db/migrations.ts';
import { eventMigrations } from './events.schema.ts';
import { createOutboxRelay, type OutboxRelay } from './relay.ts';
import { createWalRelay, dropWalOutbox, ensureWalOutbox, walOutboxSlot } from './wal-relay.ts';

const logger = createLogger('silent');
const EVENTS = 2_000;
const KEYS = 25;
/** A private server with wal_level = logical; the machine's runs with `replica`. */
const PORT = 27_732;

type Thing = { 'test.thing.happened': { n: number } };
const things = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ type: 'test.thing.happened' as const, key: `k${(from + i) % KEYS}`, payload: { n: from + i } }));

describe('the outbox in the WAL, relayed from a logical replication slot', () => {
  let server: StandalonePostgres;
  let database = 0;
  const pools: Database[] = [];
  const relays: OutboxRelay[] = [];
  let url: string;
  let db: Database;

  const open = (connectionString = url) => {
    const pool = createPostgresDatabase({ connectionString, poolSize: 6, outbox: 'wal' });
    pools.push(pool);
    return pool;
  };
  const relay = (transport: ReturnType<typeof recordingTransport>, options: Parameters<typeof createWalRelay>[1] = {}) => {
    const made = createWalRelay({ db: open(), connectionString: url, transport, logger }, { idleMs: 20, ...options });
    relays.push(made);
    return made;
  };
  let appended = 0;
  /** Appends `count` more events in transactions of `perTransaction`, one after another, so `n` rises in commit order. */
  const fill = async (count: number, perTransaction = 10) => {
    for (const end = appended + count; appended < end; appended += perTransaction) {
      const from = appended;
      await db.transaction((tx) => appendToOutbox<Thing>(tx, things(from, Math.min(perTransaction, end - from))));
    }
  };

  beforeAll(async () => {
    server = await startStandalonePostgres({ port: PORT, name: 'wal-relay' });
  }, 60_000);
  // Each case gets a database (and so a slot) of its own.
  afterEach(async () => {
    await Promise.all(relays.splice(0).map((r) => r.stop()));
    await dropWalOutbox(db);
  });
  afterAll(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.close()));
    await server?.stop();
  }, 60_000);
  const freshDatabase = async () => {
    database++;
    appended = 0;
    const admin = createPostgresDatabase({ connectionString: server.url(), poolSize: 1 });
    await admin.exec(`create database wal_relay_${database}`);
    await admin.close();
    url = server.url(`wal_relay_${database}`);
    db = open();
    await ensureWalOutbox(db);
  };

  it('appends no row: the events go to the WAL, and the relay hands the transport what was appended, field for field', async () => {
    await freshDatabase();
    const appended = await db.transaction((tx) => appendToOutbox<{ 'test.thing.happened': Record<string, unknown> }>(tx, awkward));
    // No outbox table is involved at all: this database has none.
    expect((await db.query("select to_regclass('events.outbox') as t")).rows[0]).toEqual({ t: null });
    const stream: EventEnvelope[] = [];
    const r = relay(recordingTransport(stream, 0));
    r.start();
    await until(() => stream.length >= awkward.length, 'the events to be published', 10_000);
    expect(stream).toEqual(appended);
  });

  it('publishes each committed event once, in per-key order, and nothing of a transaction that rolled back', async () => {
    await freshDatabase();
    const stream: EventEnvelope[] = [];
    const reported: number[] = [];
    const r = relay(recordingTransport(stream), { batchSize: 100, onPublished: (count) => void reported.push(count) });
    r.start();
    const rolledBack = db.transaction(async (tx) => {
      await appendToOutbox<Thing>(tx, things(-100, 50));
      await new Promise((resolve) => setTimeout(resolve, 50)); // while others commit
      throw new Error('changed my mind');
    }).then(() => 'committed', (error: Error) => error.message);
    await fill(EVENTS);
    expect(await rolledBack).toBe('changed my mind');
    await until(() => stream.length >= EVENTS, 'every committed event to be published');
    await r.publishPending();

    expect(stream.length).toBe(EVENTS);
    expect(new Set(stream.map((e) => e.id)).size).toBe(EVENTS);
    expect(stream.some((e) => (e.payload as { n: number }).n < 0)).toBe(false);
    expect(firstCopiesInKeyOrder(stream)).toBe(true);
    expect(r.stats().published).toBe(EVENTS);
    expect(reported.reduce((a, b) => a + b, 0)).toBe(EVENTS);
    expect(Math.max(...reported)).toBeLessThanOrEqual(100);
    expect(await r.pending()).toBe(0);
    // The slot was told: a relay starting now sends none of it again, only what comes next.
    const again: EventEnvelope[] = [];
    await r.stop();
    const next = relay(recordingTransport(again, 0));
    next.start();
    await db.transaction((tx) => appendToOutbox<Thing>(tx, things(EVENTS, 1)));
    await until(() => again.length >= 1, 'the next event', 10_000);
    expect(again.map((e) => (e.payload as { n: number }).n)).toEqual([EVENTS]);
  });

  it('a relay that stops answering after a publish leaves the rest to the next, which republishes from the last confirm, losing nothing', async () => {
    await freshDatabase();
    await fill(EVENTS, 50);
    const stream: EventEnvelope[] = [];
    const healthy = recordingTransport(stream, 1);
    // The third publish reaches the log, then the process freezes: no confirm ever follows.
    let publishes = 0;
    let thaw!: () => void;
    const frozen = new Promise<void>((resolve) => (thaw = resolve));
    const dying = relay({ ...healthy, publish: async (events) => {
      await healthy.publish(events);
      if (++publishes === 3) await frozen;
    } }, { batchSize: 100 });
    dying.start();
    await until(() => publishes === 3, 'the third publish');
    const survivor = relay(healthy, { batchSize: 100 });
    survivor.start();
    await until(() => survivor.stats().contended > 0, 'the second relay to find the slot in use');
    expect(survivor.stats().published).toBe(0);
    // The frozen process's connection dies, as it would with the process.
    await db.query('select pg_terminate_backend(active_pid) from pg_replication_slots where slot_name = $1', [walOutboxSlot(`wal_relay_${database}`)]);
    await until(() => new Set(stream.map((e) => e.id)).size === EVENTS, 'every event to be published');
    await until(() => survivor.stats().published > 0 && dying.stats().published + survivor.stats().published >= EVENTS, 'the survivor to catch up');
    thaw();

    expect(new Set(stream.map((e) => e.id)).size).toBe(EVENTS);
    // The double work is bounded by what was published and not confirmed: the frozen batch.
    expect(stream.length - EVENTS).toBeLessThanOrEqual(100);
    expect(stream.length - EVENTS).toBeGreaterThan(0);
    expect(firstCopiesInKeyOrder(stream)).toBe(true);
  });

  it('two relays on one outbox: one streams, the other takes over when it stops; each event published once', async () => {
    await freshDatabase();
    const stream: EventEnvelope[] = [];
    const [a, b] = [relay(recordingTransport(stream)), relay(recordingTransport(stream))];
    a.start();
    b.start();
    await fill(EVENTS / 2);
    await until(() => stream.length >= EVENTS / 2, 'the first half');
    const active = a.stats().published > 0 ? a : b;
    const standby = active === a ? b : a;
    expect(standby.stats().published).toBe(0);
    expect(standby.stats().contended).toBeGreaterThan(0);
    await active.stop();
    await fill(EVENTS / 2);
    await until(() => stream.length >= EVENTS, 'the second half', 10_000);

    expect(stream.length).toBe(new Set(stream.map((e) => e.id)).size);
    expect(standby.stats().published).toBeGreaterThan(0);
    expect(a.stats().published + b.stats().published).toBe(stream.length);
  });

  it('publishes what the outbox table still holds from before the switch first, then the WAL', async () => {
    await freshDatabase();
    await migrate(db, 'events', eventMigrations);
    const before = createPostgresDatabase({ connectionString: url, poolSize: 2 }); // EVENTS_OUTBOX=table
    pools.push(before);
    await before.transaction((tx) => appendToOutbox<Thing>(tx, things(0, 30)));
    await db.transaction((tx) => appendToOutbox<Thing>(tx, things(30, 20)));
    expect((await db.query('select count(*)::int as n from events.outbox')).rows[0]).toEqual({ n: 30 });
    const stream: EventEnvelope[] = [];
    const transport = recordingTransport(stream, 0);
    const r = createWalRelay({ db, connectionString: url, transport, logger, leftovers: createOutboxRelay({ db: before, transport, logger }) }, { idleMs: 20 });
    relays.push(r);
    r.start();
    await until(() => stream.length >= 50, 'both outboxes to be published', 10_000);
    expect(stream.map((e) => (e.payload as { n: number }).n)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect((await db.query('select count(*)::int as n from events.outbox')).rows[0]).toEqual({ n: 0 });
  });

  it('keeps publishing through a transport outage, in order, once the transport is back', async () => {
    await freshDatabase();
    const stream: EventEnvelope[] = [];
    const healthy = recordingTransport(stream, 0);
    let down = true;
    const r = relay({ ...healthy, publish: async (events) => (down ? Promise.reject(new Error('broker down')) : healthy.publish(events)) });
    r.start();
    await fill(200);
    await until(async () => (await r.pending()) === 200, 'the relay to hold the events it cannot publish');
    down = false;
    await until(() => stream.length >= 200, 'the events to be published', 15_000);
    expect(stream.length).toBe(200);
    expect(firstCopiesInKeyOrder(stream)).toBe(true);
  });
});

describe('a server that cannot hold the outbox in its WAL', () => {
  it('is refused at start with what it lacks', async () => {
    const replicaLevel = { query: async () => ({ rows: [{ level: 'replica', version: 150_020, database: 'shop' }], rowCount: 1 }) } as unknown as Database;
    await expect(ensureWalOutbox(replicaLevel)).rejects.toThrow('EVENTS_OUTBOX=wal needs PostgreSQL 14 or later with wal_level = logical; this server has 150020 with wal_level = replica');
  });
});
