import type { Database } from '../db/database.ts';
import type { Delivery, EventEnvelope } from './event.ts';
import type { ConsumerSpec, EventTransport, Settlement, Subscription } from './transport.ts';
import { createWaker } from './wake.ts';

interface LogRow {
  seq: string | number;
  id: string;
  type: string;
  key: string;
  payload: unknown;
  occurred_at: Date | string;
}

const toDelivery = (row: LogRow, attempt: number): Delivery => ({
  sequence: Number(row.seq),
  attempt,
  event: { id: row.id, type: row.type, key: row.key, payload: row.payload, occurredAt: new Date(row.occurred_at).toISOString() },
});

export interface TableTransportOptions {
  /**
   * How often an idle consumer looks for events published by other processes. Publishes in this
   * process wake consumers at once, so this is only the cross-process fallback. Default 1 s.
   */
  pollMs?: number;
}

/**
 * The monolith's event log: a table in the module database. Durable, deduplicated by event id,
 * and each durable consumer's position is a row, so delivery resumes where it stopped.
 */
export function createTableTransport(db: Database, options: TableTransportOptions = {}): EventTransport {
  const pollMs = options.pollMs ?? 1_000;
  const published = createWaker();

  return {
    async publish(events: readonly EventEnvelope[]) {
      if (events.length === 0) return;
      await db.query(
        `insert into events.log (id, type, key, payload, occurred_at)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::timestamptz[])
         on conflict (id) do nothing`,
        [events.map((e) => e.id), events.map((e) => e.type), events.map((e) => e.key), events.map((e) => JSON.stringify(e.payload)), events.map((e) => e.occurredAt)],
      );
      published.wake();
    },

    consume(spec: ConsumerSpec, handle: (delivery: Delivery) => Promise<Settlement>): Subscription {
      let running = true;
      const stopping = createWaker();
      const loop = (async () => {
        await db.query('insert into events.consumers (name) values ($1) on conflict do nothing', [spec.name]).catch(() => undefined);
        while (running) {
          try {
            await deliverNext();
          } catch {
            // The database hiccuped (or is closing): wait a poll and look again; nothing was settled.
            if (running) await stopping.sleep(pollMs);
          }
        }
      })();
      async function deliverNext(): Promise<void> {
        const { rows } = await db.query<LogRow>(
          `select l.seq, l.id, l.type, l.key, l.payload, l.occurred_at from events.log l
           where l.seq > (select position from events.consumers where name = $1) and l.type = any($2::text[])
           order by l.seq limit 1`,
          [spec.name, spec.types],
        );
        const row = rows[0];
        if (!row) {
          await Promise.race([published.sleep(pollMs), stopping.sleep(pollMs)]);
          return;
        }
        for (let attempt = 1; ; attempt++) {
          const settlement = await handle(toDelivery(row, attempt));
          if (settlement.kind === 'ack') {
            await db.query('update events.consumers set position = $2, updated_at = now() where name = $1 and position < $2', [spec.name, row.seq]);
            break;
          }
          await stopping.sleep(settlement.delayMs);
          // Stopped while waiting to retry: the event stays unsettled and is delivered again on the next start.
          if (!running) break;
        }
      }
      return {
        async stop() {
          running = false;
          stopping.wake();
          await loop;
        },
      };
    },

    async rewind(spec, from) {
      const position = 'sequence' in from
        ? Math.max(0, from.sequence - 1)
        : Number((await db.query<{ n: string }>('select coalesce(max(seq), 0) as n from events.log where appended_at < $1', [from.time])).rows[0]!.n);
      await db.query(
        `insert into events.consumers (name, position) values ($1, $2)
         on conflict (name) do update set position = excluded.position, updated_at = now()`,
        [spec.name, position],
      );
      published.wake();
    },

    health: () => ({ up: true }),
    async close() {},

    async lag(spec) {
      const { rows } = await db.query<{ n: number }>(
        `select count(*)::int as n from events.log
         where seq > coalesce((select position from events.consumers where name = $1), 0) and type = any($2::text[])`,
        [spec.name, spec.types],
      );
      return rows[0]!.n;
    },

    async read(fromSequence, limit) {
      const { rows } = await db.query<LogRow>(
        'select seq, id, type, key, payload, occurred_at from events.log where seq >= $1 order by seq limit $2',
        [fromSequence, limit],
      );
      return rows.map((row) => toDelivery(row, 1));
    },
  };
}
