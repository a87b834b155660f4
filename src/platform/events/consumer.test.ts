import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db/database.ts';
import { migrate } from '../db/migrations.ts';
import { createPgliteDatabase } from '../db/pglite.adapter.ts';
import { createLogger } from '../observability/logger.ts';
import { listDeadLetters, replayConsumer } from './admin.ts';
import { backoffDelay } from '../resilience/backoff.ts';
import { startConsumer } from './consumer.ts';
import type { EventEnvelope } from './event.ts';
import { eventMigrations } from './events.schema.ts';
import { appendToOutbox } from './outbox.ts';
import { createOutboxRelay } from './relay.ts';
import { createTableTransport } from './table-transport.ts';
import type { EventTransport } from './transport.ts';

/** Events these tests append: any x.* type with a small object payload. */
type TestEvents = { [type: `x.${string}`]: object };

const logger = createLogger('silent');

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('outbox, relay and consumers', () => {
  let db: Database;
  let transport: EventTransport;
  beforeAll(async () => {
    db = await createPgliteDatabase({ dataDir: 'memory://' });
    await migrate(db, 'events', eventMigrations);
    await db.exec('create table t (id text primary key)');
    transport = createTableTransport(db, { pollMs: 20 });
  });
  afterAll(() => db.close());

  it('publishes only what committed: a rolled-back transaction leaves no event', async () => {
    await db.transaction(async (tx) => {
      await tx.query("insert into t values ('kept')");
      await appendToOutbox<TestEvents>(tx, [{ type: 'x.kept', key: 'kept', payload: {} }]);
    });
    await db.transaction(async (tx) => {
      await appendToOutbox<TestEvents>(tx, [{ type: 'x.lost', key: 'lost', payload: {} }]);
      throw new Error('rollback');
    }).catch(() => undefined);
    const relay = createOutboxRelay({ db, transport, logger });
    expect(await relay.publishPending()).toBe(1);
    expect(await relay.pending()).toBe(0);
    expect((await transport.read(1, 100)).map((d) => d.event.type)).toEqual(['x.kept']);
  });

  it('delivers an event committed while no relay ran (killed between commit and publish) once one starts', async () => {
    await db.transaction((tx) => appendToOutbox<TestEvents>(tx, [{ type: 'x.orphan', key: 'o', payload: {} }]));
    const handled: string[] = [];
    const sub = startConsumer({ db, transport, logger }, { name: 'orphan-consumer', types: ['x.orphan'], handle: async (e) => void handled.push(e.type) });
    await new Promise((r) => setTimeout(r, 100));
    expect(handled).toEqual([]);
    const relay = createOutboxRelay({ db, transport, logger }, { idleMs: 20 });
    relay.start();
    await until(() => handled.length === 1, 'delivery after the relay started');
    await relay.stop();
    await sub.stop();
    expect(handled).toEqual(['x.orphan']);
  });

  it('delivers after a relay died between publish and mark, and the duplicate changes nothing', async () => {
    await db.transaction((tx) => appendToOutbox<TestEvents>(tx, [{ type: 'x.crash', key: 'c', payload: { n: 1 } }]));
    // The first relay publishes, then "dies" before marking the row published.
    const dying = createOutboxRelay({ db, transport: { ...transport, publish: async (events) => { await transport.publish(events); throw new Error('killed'); } }, logger });
    await expect(dying.publishPending()).rejects.toThrow('killed');
    expect(await dying.pending()).toBe(1);

    const handled: string[] = [];
    const sub = startConsumer({ db, transport, logger }, { name: 'crash-consumer', types: ['x.crash'], handle: async (e) => void handled.push(e.id) });
    const relay = createOutboxRelay({ db, transport, logger }, { idleMs: 20 });
    relay.start();
    await until(async () => (await relay.pending()) === 0 && handled.length === 1, 'delivery');
    await new Promise((r) => setTimeout(r, 100));
    await relay.stop();
    await sub.stop();
    expect(handled).toHaveLength(1);
  });

  it('retries a failing handler with backoff, then parks the event in dead letters and moves on', async () => {
    const attempts: number[] = [];
    const handled: string[] = [];
    const sub = startConsumer({ db, transport, logger }, {
      name: 'flaky', types: ['x.poison', 'x.fine'], maxAttempts: 3, baseDelayMs: 5,
      handle: async (e: EventEnvelope) => {
        if (e.type === 'x.poison') {
          attempts.push(Date.now());
          throw new Error('cannot handle this');
        }
        handled.push(e.type);
      },
    });
    await transport.publish([{ id: 'poison-1', type: 'x.poison', key: 'p', payload: { bad: true }, occurredAt: new Date().toISOString() }]);
    await transport.publish([{ id: 'fine-1', type: 'x.fine', key: 'p', payload: {}, occurredAt: new Date().toISOString() }]);
    await until(() => handled.length === 1, 'the next event');
    await sub.stop();
    expect(attempts).toHaveLength(3);
    const dead = await listDeadLetters(db, { consumer: 'flaky', limit: 10 });
    expect(dead).toEqual([expect.objectContaining({ eventId: 'poison-1', attempts: 3, error: 'cannot handle this', payload: { bad: true } })]);
  });

  it('replays a consumer from a sequence: events are handled again despite the inbox', async () => {
    const handled: string[] = [];
    const spec = { name: 'replayer', types: ['x.replay'] };
    await transport.publish([1, 2].map((n) => ({ id: `replay-${n}`, type: 'x.replay', key: 'r', payload: { n }, occurredAt: new Date().toISOString() })));
    let sub = startConsumer({ db, transport, logger }, { ...spec, handle: async (e) => void handled.push(e.id) });
    await until(() => handled.length === 2, 'first pass');
    await sub.stop();
    const [first] = await transport.read(1, 1000).then((all) => all.filter((d) => d.event.id === 'replay-1'));
    await replayConsumer(db, transport, spec, first!.sequence);
    sub = startConsumer({ db, transport, logger }, { ...spec, handle: async (e) => void handled.push(e.id) });
    await until(() => handled.length === 4, 'replay');
    await sub.stop();
    expect(handled).toEqual(['replay-1', 'replay-2', 'replay-1', 'replay-2']);
  });

  it('spreads retry delays with full jitter under a cap', () => {
    expect(backoffDelay(1, 100, 1000, () => 1)).toBe(100);
    expect(backoffDelay(4, 100, 1000, () => 1)).toBe(800);
    expect(backoffDelay(10, 100, 1000, () => 1)).toBe(1000);
    expect(backoffDelay(3, 100, 1000, () => 0.5)).toBe(200);
  });
});
