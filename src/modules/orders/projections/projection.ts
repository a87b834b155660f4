import type { Database, Queryable } from '../../../platform/db/database.ts';
import type { EventEnvelope } from '../../../platform/events/event.ts';
import type { EventTransport } from '../../../platform/events/transport.ts';

/** A read model fed by events: a durable consumer whose table can be rebuilt from the log. */
export interface Projection {
  /** The durable consumer name. */
  name: string;
  types: readonly string[];
  /** Applies one event; idempotent per event (the inbox skips repeats, replays re-apply on a fresh table). */
  apply(db: Queryable, event: EventEnvelope): Promise<void>;
  /** Empties the read model before a rebuild. */
  reset(db: Queryable): Promise<void>;
}

/**
 * Rebuilds a projection from the whole log: empties it, applies every matching event in order,
 * and moves its consumer to the end, all in one transaction so readers never see half a rebuild.
 * Returns how many events were applied.
 */
export async function rebuildProjection(db: Database, transport: EventTransport, projection: Projection): Promise<number> {
  return db.transaction(async (tx) => {
    await projection.reset(tx);
    let applied = 0;
    let last = 0;
    for (let from = 1; ; ) {
      const page = await transport.read(from, 1_000);
      if (page.length === 0) break;
      for (const delivery of page) {
        if (projection.types.includes(delivery.event.type)) {
          await projection.apply(tx, delivery.event);
          await tx.query('insert into events.inbox (consumer, event_id, sequence) values ($1, $2, $3) on conflict do nothing', [projection.name, delivery.event.id, delivery.sequence]);
          applied++;
        }
        last = delivery.sequence;
      }
      from = last + 1;
    }
    await tx.query(
      `insert into events.consumers (name, position) values ($1, $2) on conflict (name) do update set position = excluded.position, updated_at = now()`,
      [projection.name, last],
    );
    return applied;
  });
}
