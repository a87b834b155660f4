import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/platform/db/database.ts';
import { migrate } from '../../src/platform/db/migrations.ts';
import { createPgliteDatabase } from '../../src/platform/db/pglite.adapter.ts';
import { createPostgresDatabase } from '../../src/platform/db/postgres.adapter.ts';
import { eventMigrations } from '../../src/platform/events/events.schema.ts';
import { envelope } from '../../src/platform/events/outbox.ts';
import { createTableTransport } from '../../src/platform/events/table-transport.ts';
import { createScratchDatabase } from '../support/postgres.ts';
import { eventTransportContract, type TransportCapabilities } from './event-transport.contract.ts';

// One subscriber of a group delivers at a time (it holds the group's lease), in log order, and a
// retry holds the whole group back: the monolith's log trades parallelism for simplicity.
const capabilities: TransportCapabilities = { parallelGroup: false, retryBlocksOnlyItsPartition: false };

eventTransportContract('table log on PGlite', async () => {
  const db = await createPgliteDatabase({ dataDir: 'memory://' });
  await migrate(db, 'events', eventMigrations);
  return { transport: createTableTransport(db, { pollMs: 50 }), capabilities, dispose: () => db.close() };
});

eventTransportContract('table log on PostgreSQL', async () => {
  const scratch = await createScratchDatabase();
  const db = createPostgresDatabase({ connectionString: scratch.url, poolSize: 10 });
  await migrate(db, 'events', eventMigrations);
  return { transport: createTableTransport(db, { pollMs: 50 }), capabilities, dispose: async () => (await db.close(), await scratch.drop()) };
});

describe('table log on one PGlite', () => {
  // PGlite takes seconds to start on a busy machine: one database for every case below.
  let db: Database;
  beforeAll(async () => {
    db = await createPgliteDatabase({ dataDir: 'memory://' });
    await migrate(db, 'events', eventMigrations);
  });
  afterAll(() => db?.close());

  describe('group lease', () => {
    it('waits for a dead holder\'s lease to expire, then takes the group over where it stopped', async () => {
      const transport = createTableTransport(db, { pollMs: 20, leaseMs: 1_000 });
      try {
        // A holder in another process that died 0.4 s before its lease ends.
        await db.query(`insert into events.consumers (name, owner, lease_until) values ('lease.group', 'ghost', clock_timestamp() + interval '400 milliseconds')`);
        await transport.publish([envelope({ type: 'lease.group.x', key: 'k', payload: {} })]);
        const startedAt = Date.now();
        let handledAt = 0;
        const sub = transport.consume({ name: 'lease.group', types: ['lease.group.x'] }, async () => ((handledAt ||= Date.now()), { kind: 'ack' }));
        try {
          await until(() => handledAt > 0, 'the takeover');
        } finally {
          await sub.stop();
        }
        expect(handledAt - startedAt).toBeGreaterThanOrEqual(350);
        const { rows } = await db.query<{ owner: string | null; position: string | number }>('select owner, position from events.consumers where name = $1', ['lease.group']);
        expect(rows.map((r) => [r.owner, Number(r.position)])).toEqual([[null, 1]]);
      } finally {
        await transport.close();
      }
    });

    it('hands the group to a waiting subscriber when the holder stops', async () => {
      const transport = createTableTransport(db, { pollMs: 20, leaseMs: 5_000 });
      try {
        const by: string[] = [];
        const first = transport.consume({ name: 'handover', types: ['lease.handover.x'] }, async () => (by.push('first'), { kind: 'ack' }));
        await transport.publish([envelope({ type: 'lease.handover.x', key: 'k', payload: {} })]);
        await until(() => by.length === 1, 'the first delivery');
        const second = transport.consume({ name: 'handover', types: ['lease.handover.x'] }, async () => (by.push('second'), { kind: 'ack' }));
        await first.stop();
        await transport.publish([envelope({ type: 'lease.handover.x', key: 'k', payload: {} })]);
        await until(() => by.length === 2, 'the delivery after the handover', 2_000);
        await second.stop();
        expect(by).toEqual(['first', 'second']);
      } finally {
        await transport.close();
      }
    });
  });

  describe('a broadcast subscription starts where the log ends when consume() returns', () => {
    it('delivers an event published right after consume(), even when reading the log\'s end is slower than the publish', async () => {
      // On a PostgreSQL pool the subscriber's first read (where the log ends) and a publish issued
      // after consume() run on different connections, in either order (seen once in CI: 10 of 20
      // events missed). Here that read is held back 300 ms, as a new pool connection might.
      const slowLogEnd: Database = {
        ...db,
        query: ((sql: string, params?: unknown[]) => (sql.includes('max(seq)')
          ? new Promise((r) => setTimeout(r, 300)).then(() => db.query(sql, params))
          : db.query(sql, params))) as Database['query'],
      };
      const transport = createTableTransport(slowLogEnd, { pollMs: 20 });
      try {
        await transport.publish([envelope({ type: 'start.bcast.x', key: 'k', payload: { n: 0 } })]);
        const got: number[] = [];
        const sub = transport.consume({ name: 'start.bcast', types: ['start.bcast.x'], delivery: 'broadcast' }, async (d) => (got.push((d.event.payload as { n: number }).n), { kind: 'ack' }));
        await transport.publish([envelope({ type: 'start.bcast.x', key: 'k', payload: { n: 1 } })]);
        await until(() => got.length >= 1, 'the delivery of the event published after subscribing', 3_000);
        await new Promise((r) => setTimeout(r, 100));
        await sub.stop();
        expect(got).toEqual([1]);
      } finally {
        await transport.close();
      }
    });
  });

  describe('a group subscriber woken by a publish', () => {
    it('delivers an event published while its read was finding nothing at once, not a poll interval later', async () => {
      // The group's read of the log is held after it found nothing new, until an event has been
      // published (which wakes the subscribers): the wake lands before the subscriber sleeps.
      let hold: (() => Promise<void>) | undefined;
      const heldRead: Database = {
        ...db,
        query: (async (sql: string, params?: unknown[]) => {
          const result = await db.query(sql, params);
          const row = result.rows[0] as { mine?: boolean; seq?: unknown } | undefined;
          // Only the read of a subscriber that holds the group and finds nothing new: it sleeps next.
          if (hold && sql.includes('left join lateral') && row?.mine === true && row.seq === null) {
            const release = hold;
            hold = undefined;
            await release();
          }
          return result;
        }) as Database['query'],
      };
      const transport = createTableTransport(heldRead, { pollMs: 10_000 });
      try {
        let publishedAt = 0;
        hold = async () => {
          await transport.publish([envelope({ type: 'woken.group.x', key: 'k', payload: { n: 1 } })]);
          publishedAt = performance.now();
        };
        const got: number[] = [];
        let deliveredAt = 0;
        const sub = transport.consume({ name: 'woken.group', types: ['woken.group.x'] }, async (d) => {
          got.push((d.event.payload as { n: number }).n);
          deliveredAt = performance.now();
          return { kind: 'ack' };
        });
        await until(() => got.length >= 1, 'the delivery of the event published during the read', 5_000);
        await sub.stop();
        expect(got).toEqual([1]);
        // Without the wake kept, the subscriber slept its 10 s poll interval first.
        expect(deliveredAt - publishedAt).toBeLessThan(1_000);
      } finally {
        await transport.close();
      }
    });
  });
});

async function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
