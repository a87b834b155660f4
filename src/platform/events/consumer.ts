import type { Logger } from 'pino';
import type { Database, Queryable } from '../db/database.ts';
import { backoffDelay } from '../resilience/backoff.ts';
import type { EventEnvelope } from './event.ts';
import { createGroupCommit } from './group-commit.ts';
import type { BatchHandler, ConsumerSpec, EventTransport, Settlement, Subscription } from './transport.ts';

/** Events one shared transaction of a transactional consumer carries at most (a larger run of one partition goes by itself). */
const GROUP_COMMIT_MAX = 512;

/** `E` is the delivered event, usually `EventOf<SomeCatalogue, 'a.b.c' | …>`, so `type` narrows the payload. */
export interface ConsumerOptions<E extends EventEnvelope = EventEnvelope> extends ConsumerSpec {
  /**
   * Runs the consumer's work. Throwing means "failed, try again later". Must be idempotent, unless
   * `transactional`: then `db` is a transaction that also records the event in the inbox, so the
   * work's database effects happen exactly once (read models use this).
   */
  handle(event: E, db: Queryable): Promise<void>;
  transactional?: boolean;
  /** Deliveries before an event goes to dead letters. Default 5. */
  maxAttempts?: number;
  /** First retry delay; doubles each attempt up to maxDelayMs, with full jitter. Default 200 ms. */
  baseDelayMs?: number;
  /** Default 30 s. */
  maxDelayMs?: number;
}

/** What a consumer reports as it settles events (metrics hang here). */
export interface ConsumerObserver {
  redelivered?(consumer: string): void;
  deadLettered?(consumer: string): void;
}

/**
 * Runs a consumer on a transport: skips events its inbox has seen, retries failures with backoff,
 * and after `maxAttempts` parks the event in dead letters and moves on.
 *
 * Transports deliver at least once (a redelivery after a crash, a republish past JetStream's dedup
 * window), so the inbox is what makes a transactional consumer exactly once: its row is inserted
 * first, in the handler's transaction, and a second delivery finds the row taken and does nothing,
 * even when two deliveries race. A side-effecting consumer (an email) checks the inbox before and
 * records after: at least once, and a crash in between repeats the effect. A broadcast consumer
 * keeps no inbox: it runs on every instance, so its work must be idempotent (dropping a cache entry).
 */
export function startConsumer<E extends EventEnvelope>(
  deps: { db: Database; transport: EventTransport; logger: Logger; observer?: ConsumerObserver },
  options: ConsumerOptions<E>,
): Subscription {
  const { db, transport, logger, observer } = deps;
  const maxAttempts = options.maxAttempts ?? 5;
  const baseDelayMs = options.baseDelayMs ?? 200;
  const maxDelayMs = options.maxDelayMs ?? 30_000;
  const log = logger.child({ consumer: options.name });
  const remember = (q: Queryable, eventId: string, sequence: number) =>
    q.query('insert into events.inbox (consumer, event_id, sequence) values ($1, $2, $3) on conflict do nothing', [options.name, eventId, sequence]);
  const seen = async (eventId: string) =>
    (await db.query('select 1 from events.inbox where consumer = $1 and event_id = $2', [options.name, eventId])).rows.length > 0;

  // A broadcast reaches every instance under one name: a shared inbox would let only the first act.
  const useInbox = options.delivery !== 'broadcast';
  // First deliveries from several partitions share one transaction (one commit, one inbox insert).
  const together = options.transactional && useInbox
    ? createGroupCommit({ db, consumer: options.name, handle: (event, tx) => options.handle(event as E, tx), maxBatch: GROUP_COMMIT_MAX })
    : undefined;

  // A transport that delivers a partition's events in batches hands first deliveries over together.
  const handleBatch: BatchHandler | undefined = together
    ? async (deliveries) => (await together(deliveries)).kind === 'committed'
    : undefined;

  return transport.consume(options, async ({ event, sequence, attempt }): Promise<Settlement> => {
    if (attempt > 1) observer?.redelivered?.(options.name);
    try {
      if (!useInbox) {
        await options.handle(event as E, db);
        return { kind: 'ack' };
      }
      if (options.transactional) {
        // A redelivery, or an event whose shared transaction failed, goes alone (below).
        if (together && attempt === 1) {
          const outcome = await together([{ event, sequence }]);
          if (outcome.kind === 'committed') return { kind: 'ack' };
          if (outcome.kind === 'failed') throw outcome.error;
        }
        await db.transaction(async (tx) => {
          if ((await remember(tx, event.id, sequence)).rowCount === 0) return;
          await options.handle(event as E, tx);
        });
        return { kind: 'ack' };
      }
      if (await seen(event.id)) return { kind: 'ack' };
      await options.handle(event as E, db);
      await remember(db, event.id, sequence);
      return { kind: 'ack' };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (attempt < maxAttempts) {
        const delayMs = backoffDelay(attempt, baseDelayMs, maxDelayMs);
        log.warn({ eventId: event.id, type: event.type, requestId: event.context?.requestId, attempt, delayMs, err: message }, 'event handling failed; will retry');
        return { kind: 'retry', delayMs };
      }
      log.error({ eventId: event.id, type: event.type, requestId: event.context?.requestId, attempt, err: message }, 'event handling failed for good; dead-lettered');
      await db.transaction(async (tx) => {
        await tx.query(
          `insert into events.dead_letters (consumer, event_id, sequence, type, key, payload, error, attempts)
           values ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [options.name, event.id, sequence, event.type, event.key, JSON.stringify(event.payload), message.slice(0, 2000), attempt],
        );
        if (useInbox) await remember(tx, event.id, sequence);
      });
      observer?.deadLettered?.(options.name);
      return { kind: 'ack' };
    }
  }, handleBatch);
}
