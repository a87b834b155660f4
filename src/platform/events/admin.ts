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
 * Replays a consumer from a sequence: forgets what its inbox saw from there on and moves its
 * position back, so every later event is handled again (handlers are idempotent).
 */
export async function replayConsumer(db: Database, transport: EventTransport, consumer: ConsumerSpec, fromSequence: number): Promise<void> {
  await db.query('delete from events.inbox where consumer = $1 and sequence >= $2', [consumer.name, fromSequence]);
  await transport.rewind(consumer, { sequence: fromSequence });
}
