import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, Queryable } from '../../src/platform/db/database.ts';
import { migrate } from '../../src/platform/db/migrations.ts';
import { createPostgresDatabase } from '../../src/platform/db/postgres.adapter.ts';
import { listDeadLetters, replayConsumer } from '../../src/platform/events/admin.ts';
import { startConsumer } from '../../src/platform/events/consumer.ts';
import type { EventEnvelope } from '../../src/platform/events/event.ts';
import { eventMigrations } from '../../src/platform/events/events.schema.ts';
import { createJetStreamTransport } from '../../src/platform/events/jetstream-transport.ts';
import { appendToOutbox } from '../../src/platform/events/outbox.ts';
import { createOutboxRelay } from '../../src/platform/events/relay.ts';
import type { ConsumerSpec, EventTransport } from '../../src/platform/events/transport.ts';
import { createLogger } from '../../src/platform/observability/logger.ts';
import { startPrivateNats, type PrivateNats } from '../support/nats.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/postgres.ts';

/** This suite's private NATS port (other suites use other ranges). */
const NATS_PORT = 24_270;
type TestEvents = { 'test.item.counted': { n: number; poison?: boolean } };
const TYPE = 'test.item.counted';
const logger = createLogger('silent');

async function until(condition: () => Promise<boolean> | boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The consumer layer on JetStream end to end: outbox → relay → stream → durable groups with
 * inbox, retries, dead letters and replay, on a real PostgreSQL and a private nats-server.
 */
describe('consumer groups on JetStream', () => {
  let nats: PrivateNats;
  let scratch: ScratchDatabase;
  const pools: Database[] = [];
  const transports: EventTransport[] = [];
  const pool = (size = 6) => {
    const db = createPostgresDatabase({ connectionString: scratch.url, poolSize: size });
    pools.push(db);
    return db;
  };
  const jetstream = async (stream: string) => {
    const transport = await createJetStreamTransport({ servers: nats.url, stream, subjectPrefix: stream.toLowerCase(), logger });
    transports.push(transport);
    return transport;
  };
  const append = (db: Database, events: { key: string; payload: TestEvents[typeof TYPE] }[]) =>
    db.transaction((tx) => appendToOutbox<TestEvents>(tx, events.map((e) => ({ type: TYPE, ...e }))));

  beforeAll(async () => {
    nats = await startPrivateNats({ port: NATS_PORT });
    scratch = await createScratchDatabase('scalemart_jsconsumers');
    const db = pool();
    await migrate(db, 'events', eventMigrations);
    await db.exec('create table handled (consumer text, event_id text, n int not null default 1, primary key (consumer, event_id)); create table counts (key text primary key, n int not null)');
  }, 60_000);

  afterAll(async () => {
    for (const transport of transports) await transport.close().catch(() => undefined);
    for (const db of pools) await db.close().catch(() => undefined);
    await scratch?.drop();
    await nats?.stop();
  });

  it('parks a poison event in dead letters after its attempts, holds its key only for its backoff, and replays without double counting', async () => {
    const db = pool();
    const transport = await jetstream('JS_POISON');
    await db.exec("delete from events.outbox");
    const relay = createOutboxRelay({ db, transport, logger }, { idleMs: 20 });
    const spec: ConsumerSpec = { name: 'test.counter', types: [TYPE] };
    const handledAt = new Map<number, number>();
    let firstPoisonAt = 0;
    // A projection: counts per key, idempotent per event, so a replay re-applies without counting twice.
    const project = async (event: EventEnvelope<TestEvents[typeof TYPE]>, tx: Queryable) => {
      if (event.payload.poison) {
        firstPoisonAt ||= performance.now();
        throw new Error('cannot count this');
      }
      const fresh = await tx.query('insert into handled (consumer, event_id) values ($1, $2) on conflict do nothing', ['projection', event.id]);
      if (fresh.rowCount > 0) await tx.query('insert into counts (key, n) values ($1, 1) on conflict (key) do update set n = counts.n + 1', [event.key]);
      handledAt.set(event.payload.n, performance.now());
    };
    const options = { ...spec, transactional: true, maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 400, handle: project };
    let consumer = startConsumer({ db, transport, logger }, options);
    // The handler notes an event inside its transaction: only a stopped consumer (which waits for the
    // transaction in flight) has committed everything it noted.
    const handledAll = async (what: string) => {
      await until(() => handledAt.size === 10, what);
      await consumer.stop();
    };
    try {
      relay.start();
      // The poison first, then five more events of its key (held behind it) and five of other keys.
      await append(db, [{ key: 'k-poison', payload: { n: 0, poison: true } }]);
      await append(db, [1, 2, 3, 4, 5].map((n) => ({ key: 'k-poison', payload: { n } })));
      await append(db, [6, 7, 8, 9, 10].map((n) => ({ key: `k-${n}`, payload: { n } })));
      relay.nudge();
      await handledAll('ten events counted');

      const dead = await listDeadLetters(db, { consumer: spec.name, limit: 10 });
      expect(dead).toEqual([expect.objectContaining({ attempts: 3, error: 'cannot count this', payload: { n: 0, poison: true } })]);
      // Its two retries waited at most 100 + 200 ms (full jitter under the cap); the rest is delivery and commits.
      const heldFor = handledAt.get(1)! - firstPoisonAt;
      expect(heldFor).toBeLessThan(300 + 1_500);
      expect((await db.query<{ key: string; n: number }>('select key, n from counts order by key')).rows).toHaveLength(6);
      const before = (await db.query<{ key: string; n: number }>('select key, n from counts order by key')).rows;
      expect(before.find((r) => r.key === 'k-poison')!.n).toBe(5);

      // Replay from the stream's first event: every handler runs again, and the projection's counts stay.
      handledAt.clear();
      await replayConsumer(db, transport, spec, dead[0]!.sequence);
      consumer = startConsumer({ db, transport, logger }, options);
      await handledAll('the replay');
      expect((await db.query('select key, n from counts order by key')).rows).toEqual(before);
      // Rebuilt from nothing by the same replay, the counts come out the same again.
      await db.exec("delete from counts; delete from handled where consumer = 'projection'");
      handledAt.clear();
      await replayConsumer(db, transport, spec, dead[0]!.sequence);
      consumer = startConsumer({ db, transport, logger }, options);
      await handledAll('the rebuild');
      expect((await db.query('select key, n from counts order by key')).rows).toEqual(before);
    } finally {
      // Also on a failure: a relay left running would take the next test's outbox rows to this stream.
      await consumer.stop();
      await relay.stop();
    }
  }, 120_000);

  it('handles each of 10 000 events once per group with two relays on one outbox, and reports their publishes', async () => {
    const EVENTS = 10_000;
    const transport = await jetstream('JS_TWO_RELAYS');
    const writer = pool();
    await writer.exec('delete from events.outbox');
    const relays = [0, 1].map(() => createOutboxRelay({ db: pool(4), transport, logger }, { idleMs: 20 }));
    const groups = ['group.one', 'group.two'];
    const consumerDb = pool(10);
    let handled = 0;
    const consumers = groups.map((name) => startConsumer({ db: consumerDb, transport, logger }, {
      name, types: [TYPE], transactional: true,
      handle: async (event, tx) => {
        await tx.query('insert into handled (consumer, event_id) values ($1, $2) on conflict (consumer, event_id) do update set n = handled.n + 1', [name, event.id]);
        handled++;
      },
    }));
    const stopAll = async () => {
      await Promise.all(consumers.map((c) => c.stop()));
      await Promise.all(relays.map((r) => r.stop()));
    };
    try {
      for (const relay of relays) relay.start();
      for (let from = 0; from < EVENTS; from += 250) {
        await append(writer, Array.from({ length: 250 }, (_, i) => ({ key: `k${(from + i) % 97}`, payload: { n: from + i } })));
        for (const relay of relays) relay.nudge();
      }
      await until(() => handled >= EVENTS * groups.length, `${EVENTS} events in both groups`, 180_000);
    } finally {
      // Stopped also on a failure; stopped, every transaction the handlers ran in has ended.
      await stopAll();
    }

    for (const name of groups) {
      const { rows } = await writer.query<{ events: number; most: number }>('select count(*)::int as events, max(n)::int as most from handled where consumer = $1', [name]);
      expect(rows[0], name).toEqual({ events: EVENTS, most: 1 });
    }
    const stats = relays.map((r) => r.stats());
    const published = stats.reduce((sum, s) => sum + s.published, 0);
    console.info(`two relays: ${stats.map((s) => `${s.published} published in ${s.batches} batches (${s.contended} passes found the other publishing)`).join('; ')}; total ${published} for ${EVENTS} events`);
    expect(published).toBe(EVENTS);
    expect(stats.every((s) => s.published > 0 || s.contended > 0)).toBe(true);
    expect(await relays[0]!.pending()).toBe(0);
  }, 240_000);
});
