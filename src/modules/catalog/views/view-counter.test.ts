import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../../../../test/support/postgres.ts';
import type { Database } from '../../../platform/db/database.ts';
import { sqlStateOf } from '../../../platform/db/database.ts';
import { migrate } from '../../../platform/db/migrations.ts';
import { createPostgresDatabase } from '../../../platform/db/postgres.adapter.ts';
import { catalogMigrations } from '../catalog.schema.ts';
import { createViewCounter, type ViewCounter } from './view-counter.ts';

const VIEWS = 5_000;
const PRODUCTS = 40;
const DEADLOCK = '40P01';

describe('two view flushers on one PostgreSQL table', () => {
  let scratch: ScratchDatabase;
  const pools: Database[] = [];
  const pool = () => {
    const db = createPostgresDatabase({ connectionString: scratch.url, poolSize: 8 });
    pools.push(db);
    return db;
  };

  beforeAll(async () => {
    scratch = await createScratchDatabase('scalemart_view_flush');
    await migrate(pool(), 'catalog', catalogMigrations);
  });
  afterAll(async () => {
    await Promise.all(pools.splice(0).map((db) => db.close()));
    await scratch.drop();
  });

  it(`counts each of ${VIEWS} views once, none lost, while two processes flush at the same time as views arrive`, async () => {
    // Small batches, so the two flushers contend for the buffer over and over.
    const counters: ViewCounter[] = [createViewCounter(pool(), { batchSize: 100 }), createViewCounter(pool(), { batchSize: 100 })];
    // Each process has its connections open before the race starts.
    await Promise.all(pools.map((db) => db.ping()));
    const writer = createViewCounter(pool());
    const expected = new Map<string, number>();
    const viewsOf = (i: number) => `p${i % PRODUCTS}`;
    for (let i = 0; i < VIEWS; i++) expected.set(viewsOf(i), (expected.get(viewsOf(i)) ?? 0) + 1);

    let recording = true;
    const recorded = (async () => {
      for (let from = 0; from < VIEWS; from += 100) {
        await Promise.all(Array.from({ length: 100 }, (_, i) => writer.record(viewsOf(from + i), `view-${from + i}`)));
        // A client's retry of a view already sent: the same view id counts once.
        await writer.record(viewsOf(from), `view-${from}`);
      }
      recording = false;
    })();

    const flushed = [0, 0];
    const deadlocks = [0, 0];
    const flushing = counters.map(async (counter, c) => {
      const deadline = Date.now() + 45_000;
      for (;;) {
        if (Date.now() > deadline) throw new Error('the flushers never drained the buffer');
        const wasRecording = recording;
        let n = 0;
        try {
          n = await counter.flush();
        } catch (error) {
          // Two folds that upsert the same products in opposite orders can deadlock; PostgreSQL
          // rolls one back (marks and counts together), and its views are folded again later.
          if (sqlStateOf(error) !== DEADLOCK) throw error;
          deadlocks[c]!++;
          continue;
        }
        flushed[c]! += n;
        if (n === 0 && !wasRecording) return;
        if (n === 0) await new Promise((r) => setTimeout(r, 5));
      }
    });
    await Promise.all([recorded, ...flushing]);
    // Each stopped on an empty flush begun after the last view was recorded; this only confirms it.
    for (let n = await counters[0]!.flush(); n > 0; n = await counters[0]!.flush()) flushed[0]! += n;

    const db = pools[0]!;
    const { rows } = await db.query<{ product_id: string; views: string }>('select product_id, views from catalog.product_views order by product_id');
    expect(new Map(rows.map((r) => [r.product_id, Number(r.views)]))).toEqual(expected);
    const pending = await db.query<{ n: number }>('select count(*)::int as n from catalog.view_buffer where flushed_at is null');
    expect(pending.rows[0]!.n).toBe(0);
    // Each view was folded by exactly one flusher, and both flushers did a share.
    expect(flushed[0]! + flushed[1]!).toBe(VIEWS);
    expect(flushed[0]).toBeGreaterThan(0);
    expect(flushed[1]).toBeGreaterThan(0);
    console.info(`view flushers: folded ${flushed.join(' + ')} views; deadlocks retried ${deadlocks.join(' + ')}`);
  });
});
