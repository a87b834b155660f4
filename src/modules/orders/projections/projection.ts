import type { Database, Queryable } from '../../../platform/db/database.ts';
import type { EventOf } from '../../../platform/events/catalogue.ts';
import type { EventTransport } from '../../../platform/events/transport.ts';
import type { OrderEventCatalogue } from '../contract.ts';

export type OrderEvent = EventOf<OrderEventCatalogue>;

/** A read model fed by events: a durable consumer whose table can be rebuilt from the log. */
export interface Projection {
  /** The durable consumer name. */
  name: string;
  types: readonly OrderEvent['type'][];
  /** Applies one event; idempotent per event (the inbox skips repeats, replays re-apply on a fresh table). */
  apply(db: Queryable, event: OrderEvent): Promise<void>;
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
    const matching = page.filter((d) => (projection.types as readonly string[]).includes(d.event.type));
    await db.transaction(async (tx) => {
      for (const delivery of matching) {
        await projection.apply(tx, delivery.event as OrderEvent);
        await tx.query('insert into events.inbox (consumer, event_id, sequence) values ($1, $2, $3) on conflict do nothing', [projection.name, delivery.event.id, delivery.sequence]);
      }
    });
    applied += matching.length;
    last = page.at(-1)!.sequence;
  }
  // The live group carries on after what the rebuild read; whatever it delivers again, the inbox skips.
  await transport.rewind({ name: projection.name, types: projection.types }, { sequence: last + 1 });
  return applied;
}
