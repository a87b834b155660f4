import type { Queryable } from '../db/database.ts';
import { uuid7 } from '../ids/uuid7.ts';
import type { EventCatalogue, NewEventOf } from './catalogue.ts';
import { currentEventContext } from './context.ts';
import type { EventEnvelope, NewEvent } from './event.ts';

/** Completes an event with an id, a time and, when it has none, the causing request's context. */
export function envelope<P>(event: NewEvent<P>): EventEnvelope<P> {
  const context = event.context ?? currentEventContext();
  return {
    id: event.id ?? uuid7(), occurredAt: event.occurredAt ?? new Date().toISOString(), type: event.type, key: event.key, payload: event.payload,
    ...(context ? { context } : {}),
  };
}

/**
 * Appends events to the outbox inside the caller's transaction, so they exist exactly when the
 * state change they describe commits. The relay publishes them after commit. `C` is the producing
 * module's event catalogue: a type it does not declare, or a payload of the wrong shape, does not compile.
 */
export async function appendToOutbox<C extends EventCatalogue = never>(tx: Queryable, events: readonly NewEventOf<NoInfer<C>>[]): Promise<EventEnvelope[]> {
  const envelopes = (events as readonly NewEvent[]).map(envelope);
  if (envelopes.length === 0) return envelopes;
  await tx.query(
    `insert into events.outbox (id, type, key, payload, occurred_at, context)
     select * from unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::timestamptz[], $6::jsonb[])`,
    [
      envelopes.map((e) => e.id), envelopes.map((e) => e.type), envelopes.map((e) => e.key), envelopes.map((e) => JSON.stringify(e.payload)),
      envelopes.map((e) => e.occurredAt), envelopes.map((e) => (e.context ? JSON.stringify(e.context) : null)),
    ],
  );
  return envelopes;
}
