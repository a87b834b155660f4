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
 * Rebuilds a projection from the whole log: empties it, then applies every matching event in
 * order, a page per transaction, and moves its consumer past the end. Readers may see the model
 * fill up during a rebuild; a live consumer running alongside is harmless because applying an
 * event is idempotent. Returns how many events were applied.
 */
export async function rebuildProjection(db: Database, transport: EventTransport, projection: Projection): Promise<number> {
  await db.transaction(async (tx) => {
    await projection.reset(tx);
    await tx.query('delete from events.inbox where consumer = $1', [projection.name]);
  });
  let applied = 0;
  let last = 0;
  for (;;) {
    const page = await transport.read(last + 1, 1_000);
    if (page.length === 0) break;
    const matching = page.filter((d) => projection.types.includes(d.event.type));
    await db.transaction(async (tx) => {
      for (const delivery of matching) {
        await projection.apply(tx, delivery.event);
        await tx.query('insert into events.inbox (consumer, event_id, sequence) values ($1, $2, $3) on conflict do nothing', [projection.name, delivery.event.id, delivery.sequence]);
      }
    });
    applied += matching.length;
    last = page.at(-1)!.sequence;
  }
  await db.query(
    `insert into events.consumers (name, position) values ($1, $2)
     on conflict (name) do update set position = greatest(consumers.position, excluded.position), updated_at = now()`,
    [projection.name, last],
  );
  return applied;
}
