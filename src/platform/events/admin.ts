import type { Database } from '../db/database.ts';
import type { ConsumerSpec, EventTransport } from './transport.ts';

export interface DeadLetter {
  id: number;
  consumer: string;
  eventId: string;
  sequence: number;
  type: string;
  key: string;
  payload: unknown;
  error: string;
  attempts: number;
  failedAt: string;
}

export async function listDeadLetters(db: Database, filter: { consumer?: string; limit: number }): Promise<DeadLetter[]> {
  const { rows } = await db.query<{ id: string; consumer: string; event_id: string; sequence: string; type: string; key: string; payload: unknown; error: string; attempts: number; failed_at: Date | string }>(
    `select * from events.dead_letters where ($1::text is null or consumer = $1) order by id desc limit $2`,
    [filter.consumer ?? null, filter.limit],
  );
  return rows.map((r) => ({
    id: Number(r.id), consumer: r.consumer, eventId: r.event_id, sequence: Number(r.sequence), type: r.type, key: r.key,
    payload: r.payload, error: r.error, attempts: r.attempts, failedAt: new Date(r.failed_at).toISOString(),
  }));
}

/**
 * Replays a consumer group from a log sequence or from a time: forgets what its inbox saw from
 * there on and moves its position back, so every later event is handled again (handlers are
 * idempotent). From a time, the inbox forgets what it recorded since then: a superset of the
 * events appended since (an event is handled after it is appended), which costs nothing but
 * dedup for events that are not redelivered.
 */
export async function replayConsumer(db: Database, transport: EventTransport, consumer: ConsumerSpec, from: number | { time: Date }): Promise<void> {
  if (typeof from === 'number') {
    await db.query('delete from events.inbox where consumer = $1 and sequence >= $2', [consumer.name, from]);
    await transport.rewind(consumer, { sequence: from });
  } else {
    await db.query('delete from events.inbox where consumer = $1 and processed_at >= $2', [consumer.name, from.time]);
    await transport.rewind(consumer, from);
  }
}
