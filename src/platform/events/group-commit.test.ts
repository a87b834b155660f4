import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../db/database.ts';
import { migrate } from '../db/migrations.ts';
import { createPgliteDatabase } from '../db/pglite.adapter.ts';
import type { EventEnvelope } from './event.ts';
import { eventMigrations } from './events.schema.ts';
import { createGroupCommit } from './group-commit.ts';
import { envelope } from './outbox.ts';

describe('group commit of a transactional consumer', () => {
  let db: Database;
  beforeAll(async () => {
    db = await createPgliteDatabase({ dataDir: 'memory://' });
    await migrate(db, 'events', eventMigrations);
    await db.exec('create table done (id text primary key)');
  });
  afterAll(() => db.close());

  const events = (n: number) => Array.from({ length: n }, (_, i) => envelope({ type: 'x.y.z', key: `k${i}`, payload: { i } }));
  const rows = async () => (await db.query<{ id: string }>('select id from done order by id')).rows.map((r) => r.id);
  const inbox = async (consumer: string) => (await db.query<{ n: number }>('select count(*)::int as n from events.inbox where consumer = $1', [consumer])).rows[0]!.n;

  it('commits the deliveries that arrive while a transaction is in flight together, once each', async () => {
    const sizes: number[] = [];
    const handled: string[] = [];
    const together = createGroupCommit({
      db, consumer: 'gc.a', maxBatch: 3,
      handle: async (e, tx) => {
        handled.push(e.id);
        await tx.query('insert into done values ($1)', [e.id]);
      },
    });
    const batch = events(6);
    const traced = db.transaction.bind(db);
    db.transaction = (fn) => traced(async (tx) => {
      const before = handled.length;
      const out = await fn(tx);
      sizes.push(handled.length - before);
      return out;
    });
    try {
      const outcomes = await Promise.all(batch.map((e, i) => together([{ event: e, sequence: i + 1 }])));
      expect(outcomes.every((o) => o.kind === 'committed')).toBe(true);
      // The first goes at once; the five that queued behind it go in batches of at most three.
      expect(sizes).toEqual([1, 3, 2]);
      // A repeat (a redelivery after a lost ack) is committed without running the handler again.
      expect(await together([{ event: batch[2]!, sequence: 3 }])).toEqual({ kind: 'committed' });
    } finally {
      db.transaction = traced;
    }
    expect(handled).toEqual(batch.map((e) => e.id));
    expect(await inbox('gc.a')).toBe(6);
  });

  it('sends every event of a failed shared transaction back to go alone, and reports the failure of one that went alone', async () => {
    const poison = new Set<string>();
    const together = createGroupCommit({
      db, consumer: 'gc.b', maxBatch: 10,
      handle: async (e: EventEnvelope, tx) => {
        if (poison.has(e.id)) throw new Error('poison');
        await tx.query('insert into done values ($1)', [e.id]);
      },
    });
    const [first, ...rest] = events(4);
    poison.add(rest[1]!.id);
    poison.add(first!.id);
    const outcomes = await Promise.all([first!, ...rest].map((e, i) => together([{ event: e, sequence: 100 + i }])));
    expect(outcomes[0]).toMatchObject({ kind: 'failed', error: expect.objectContaining({ message: 'poison' }) });
    expect(outcomes.slice(1)).toEqual([{ kind: 'alone' }, { kind: 'alone' }, { kind: 'alone' }]);
    // Nothing of the failed transactions was kept: neither the work nor the inbox rows.
    expect(await inbox('gc.b')).toBe(0);
    expect((await rows()).filter((id) => rest.some((e) => e.id === id))).toEqual([]);
  });

  it('keeps a partition\'s run together and in order, shares a transaction between runs, and fails a run as a whole', async () => {
    const handled: string[] = [];
    const poison = new Set<string>();
    const together = createGroupCommit({
      db, consumer: 'gc.c', maxBatch: 5,
      handle: async (e, tx) => {
        if (poison.has(e.id)) throw new Error('poison');
        handled.push(e.id);
        await tx.query('insert into done values ($1)', [e.id]);
      },
    });
    const run = (from: number, es: EventEnvelope[]) => es.map((event, i) => ({ event, sequence: from + i }));
    const [a, b, c, d] = [events(1), events(2), events(3), events(6)];
    // a goes at once; b and c (5 events) share the next transaction; d (6 > 5) goes by itself.
    const outcomes = await Promise.all([together(run(200, a)), together(run(210, b)), together(run(220, c)), together(run(230, d))]);
    expect(outcomes.map((o) => o.kind)).toEqual(['committed', 'committed', 'committed', 'committed']);
    expect(handled).toEqual([...a, ...b, ...c, ...d].map((e) => e.id));

    const bad = events(3);
    poison.add(bad[2]!.id);
    handled.length = 0;
    expect(await together(run(300, bad))).toMatchObject({ kind: 'failed' });
    // The events before the poison one were rolled back with it: the run took no effect.
    expect(await inbox('gc.c')).toBe(12);
    expect((await rows()).filter((id) => bad.some((e) => e.id === id))).toEqual([]);
  });

  it('commits a batch holding a repeat: its new events once, the repeat not again', async () => {
    const handled: string[] = [];
    const together = createGroupCommit({
      db, consumer: 'gc.d', maxBatch: 10,
      handle: async (e, tx) => {
        handled.push(e.id);
        await tx.query('insert into done values ($1)', [e.id]);
      },
    });
    const [seen, ...fresh] = events(4);
    expect(await together([{ event: seen!, sequence: 400 }])).toEqual({ kind: 'committed' });
    handled.length = 0;
    expect(await together([seen!, ...fresh].map((event, i) => ({ event, sequence: 400 + i })))).toEqual({ kind: 'committed' });
    expect(handled).toEqual(fresh.map((e) => e.id));
    expect(await inbox('gc.d')).toBe(4);
  });

  it('reports a handler\'s own unique violation as a failure that took no effect', async () => {
    const together = createGroupCommit({
      db, consumer: 'gc.e', maxBatch: 10,
      handle: async (_e, tx) => void (await tx.query('insert into done values ($1)', ['one row for every event'])),
    });
    const outcome = await together(events(2).map((event, i) => ({ event, sequence: 500 + i })));
    expect(outcome).toMatchObject({ kind: 'failed', error: expect.objectContaining({ code: '23505' }) });
    expect(await inbox('gc.e')).toBe(0);
    expect(await rows()).not.toContain('one row for every event');
  });
});
