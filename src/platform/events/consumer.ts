import type { Logger } from 'pino';
import type { Database } from '../db/database.ts';
import type { EventEnvelope } from './event.ts';
import type { ConsumerSpec, EventTransport, Settlement, Subscription } from './transport.ts';

export interface ConsumerOptions<P> extends ConsumerSpec {
  /** Runs the consumer's work. Throwing means "failed, try again later". Must be idempotent. */
  handle(event: EventEnvelope<P>): Promise<void>;
  /** Deliveries before an event goes to dead letters. Default 5. */
  maxAttempts?: number;
  /** First retry delay; doubles each attempt up to maxDelayMs, with full jitter. Default 200 ms. */
  baseDelayMs?: number;
  /** Default 30 s. */
  maxDelayMs?: number;
}

/** Exponential backoff with full jitter: spreads retries so failed consumers do not stampede a recovering dependency. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  return Math.round(random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1)));
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
    const seen = await db.query('select 1 from events.inbox where consumer = $1 and event_id = $2', [options.name, event.id]);
    if (seen.rows.length > 0) return { kind: 'ack' };
    try {
      await options.handle(event as EventEnvelope<P>);
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
    await db.query(
      'insert into events.inbox (consumer, event_id, sequence) values ($1, $2, $3) on conflict do nothing',
      [options.name, event.id, sequence],
    );
    return { kind: 'ack' };
  });
}
