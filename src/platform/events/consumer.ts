import type { Logger } from 'pino';
import type { Database, Queryable } from '../db/database.ts';
import { backoffDelay } from '../resilience/backoff.ts';
import type { EventEnvelope } from './event.ts';
import type { ConsumerSpec, EventTransport, Settlement, Subscription } from './transport.ts';

export interface ConsumerOptions<P> extends ConsumerSpec {
  /**
   * Runs the consumer's work. Throwing means "failed, try again later". Must be idempotent, unless
   * `transactional`: then `db` is a transaction that also records the event in the inbox, so the
   * work's database effects happen exactly once (read models use this).
   */
  handle(event: EventEnvelope<P>, db: Queryable): Promise<void>;
  transactional?: boolean;
  /** Deliveries before an event goes to dead letters. Default 5. */
  maxAttempts?: number;
  /** First retry delay; doubles each attempt up to maxDelayMs, with full jitter. Default 200 ms. */
  baseDelayMs?: number;
  /** Default 30 s. */
  maxDelayMs?: number;
}

/**
 * Runs a durable consumer on a transport: skips events its inbox has seen, retries failures
 * with backoff, and after `maxAttempts` parks the event in dead letters and moves on.
 */
export function startConsumer<P>(deps: { db: Database; transport: EventTransport; logger: Logger }, options: ConsumerOptions<P>): Subscription {
  const { db, transport, logger } = deps;
  const maxAttempts = options.maxAttempts ?? 5;
  const baseDelayMs = options.baseDelayMs ?? 200;
  const maxDelayMs = options.maxDelayMs ?? 30_000;
  const log = logger.child({ consumer: options.name });

  return transport.consume(options, async ({ event, sequence, attempt }): Promise<Settlement> => {
    const seenBy = async (q: Queryable) => (await q.query('select 1 from events.inbox where consumer = $1 and event_id = $2', [options.name, event.id])).rows.length > 0;
    const remember = (q: Queryable) =>
      q.query('insert into events.inbox (consumer, event_id, sequence) values ($1, $2, $3) on conflict do nothing', [options.name, event.id, sequence]);
    if (await seenBy(db)) return { kind: 'ack' };
    try {
      if (options.transactional) {
        await db.transaction(async (tx) => {
          if (await seenBy(tx)) return;
          await options.handle(event as EventEnvelope<P>, tx);
          await remember(tx);
        });
        return { kind: 'ack' };
      }
      await options.handle(event as EventEnvelope<P>, db);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (attempt < maxAttempts) {
        const delayMs = backoffDelay(attempt, baseDelayMs, maxDelayMs);
        log.warn({ eventId: event.id, type: event.type, attempt, delayMs, err: message }, 'event handling failed; will retry');
        return { kind: 'retry', delayMs };
      }
      log.error({ eventId: event.id, type: event.type, attempt, err: message }, 'event handling failed for good; dead-lettered');
      await db.query(
        `insert into events.dead_letters (consumer, event_id, sequence, type, key, payload, error, attempts)
         values ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [options.name, event.id, sequence, event.type, event.key, JSON.stringify(event.payload), message.slice(0, 2000), attempt],
      );
    }
    await remember(db);
    return { kind: 'ack' };
  });
}
