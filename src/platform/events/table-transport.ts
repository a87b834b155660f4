import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Database } from '../db/database.ts';
import type { Delivery, EventEnvelope } from './event.ts';
import { SELECT_ENVELOPES } from './outbox.ts';
import { LOG_COLUMNS, startTableBroadcast, toDelivery, type LogRow } from './table-consumers.ts';
import { startTableGroup } from './table-group.ts';
import { EventTransportError } from './transport-errors.ts';
import type { ConsumerSpec, EventTransport, Settlement, Subscription } from './transport.ts';
import { createWaker } from './wake.ts';

export interface TableTransportOptions {
  /**
   * How often an idle consumer looks for events published by other processes, and a waiting
   * group subscriber for a lease to take over. Publishes in this process wake consumers at once,
   * so this is only the cross-process fallback. Default 1 s.
   */
  pollMs?: number;
  /**
   * How long a group's lease lasts unless renewed (its holder renews it every third of this).
   * A crashed holder's group resumes on another subscriber after at most this. Default 10 s.
   */
  leaseMs?: number;
}

/**
 * The monolith's event log: a table in the module database. Durable, deduplicated by event id,
 * and each group's position is a row, so delivery resumes where it stopped; the row's lease lets
 * one subscriber deliver at a time, whichever process it runs in. Appends are serialized, so a
 * sequence is never committed after a higher one (a group reading past an uncommitted lower
 * sequence would skip it for good).
 */
export function createTableTransport(db: Database, options: TableTransportOptions = {}): EventTransport {
  const pollMs = options.pollMs ?? 1_000;
  const leaseMs = options.leaseMs ?? 10_000;
  if (!(pollMs > 0 && Number.isSafeInteger(leaseMs) && leaseMs >= 100)) throw new EventTransportError('EVENTS_INVALID_OPTIONS', 'table transport: pollMs must be positive, leaseMs an integer ≥ 100');
  const published = createWaker();
  const subscriptions = new Set<Subscription>();
  // Broadcast subscribers still reading where the log ends: a publish waits for them, so an event
  // published after consume() returned is never counted as before the subscription.
  const starting = new Set<Promise<unknown>>();
  let closed = false;

  return {
    async publish(events: readonly EventEnvelope[]) {
      if (closed) throw new EventTransportError('EVENTS_CLOSED', 'the event transport is closed');
      if (events.length === 0) return;
      if (starting.size > 0) await Promise.all(starting);
      await db.transaction(async (tx) => {
        // Held to commit: appends take sequences in commit order (see above).
        await tx.query('select pg_advisory_xact_lock(hashtext($1))', ['scalemart:events.log']);
        await tx.query(
          `insert into events.log (id, type, key, payload, occurred_at, context)
           ${SELECT_ENVELOPES}
           on conflict (id) do nothing`,
          [JSON.stringify(events)],
        );
      });
      published.wake();
    },

    consume(spec: ConsumerSpec, handle: (delivery: Delivery) => Promise<Settlement>): Subscription {
      if (closed) throw new EventTransportError('EVENTS_CLOSED', 'the event transport is closed');
      const deps = { db, name: spec.name, types: spec.types, handle, published, pollMs };
      let running: { stop(): Promise<void> };
      if (spec.delivery === 'broadcast') {
        const broadcast = startTableBroadcast(deps);
        const started = broadcast.started.finally(() => starting.delete(started));
        starting.add(started);
        running = broadcast;
      } else {
        running = startTableGroup({ ...deps, owner: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`, leaseMs });
      }
      const subscription: Subscription = { stop: async () => (subscriptions.delete(subscription), await running.stop()) };
      subscriptions.add(subscription);
      return subscription;
    },

    async rewind(spec, from) {
      if (spec.delivery === 'broadcast') return; // no position to move
      // `appended_at` is the appending transaction's time: the first event at or after `from` comes next.
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

    async lag(spec) {
      if (spec.delivery === 'broadcast') return 0;
      const { rows } = await db.query<{ n: number }>(
        `select count(*)::int as n from events.log
         where seq > coalesce((select position from events.consumers where name = $1), 0) and type = any($2::text[])`,
        [spec.name, spec.types],
      );
      return rows[0]!.n;
    },

    async read(fromSequence, limit) {
      const { rows } = await db.query<LogRow>(`select ${LOG_COLUMNS} from events.log l where l.seq >= $1 order by l.seq limit $2`, [fromSequence, limit]);
      return rows.map((row) => toDelivery(row, 1));
    },

    // The log is the module database: when it is down, the whole process knows already.
    health: () => ({ up: true }),

    /** Stops the subscriptions (releasing their leases); the database stays open, it is not ours. */
    async close() {
      closed = true;
      await Promise.all([...subscriptions].map((s) => s.stop()));
    },
  };
}
