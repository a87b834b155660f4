import type { Logger } from 'pino';
import type { Database } from '../db/database.ts';
import { backoffDelay } from '../resilience/backoff.ts';
import type { EventEnvelope } from './event.ts';
import type { EventTransport } from './transport.ts';
import { createWaker } from './wake.ts';

export interface OutboxRelay {
  start(): void;
  /** Finishes the batch in flight, then stops. */
  stop(): Promise<void>;
  /** Publishes what is pending now, without waiting for the next poll (after a commit). */
  nudge(): void;
  /** One pass: publishes up to a batch of pending events; returns how many. */
  publishPending(): Promise<number>;
  pending(): Promise<number>;
}

export interface RelayOptions {
  batchSize?: number;
  /** Poll interval when idle, for commits nobody nudged about (other processes). Default 500 ms. */
  idleMs?: number;
}

/**
 * Publishes committed outbox events to the transport and marks them published. A failed publish
 * is retried with backoff until it succeeds; a crash between publish and mark republishes, which
 * the transport drops by event id. Several relays on one outbox are safe for the same reason.
 */
export function createOutboxRelay(deps: { db: Database; transport: EventTransport; logger: Logger }, options: RelayOptions = {}): OutboxRelay {
  const { db, transport, logger } = deps;
  const batchSize = options.batchSize ?? 200;
  const idleMs = options.idleMs ?? 500;
  const waker = createWaker();
  let running = false;
  let loop: Promise<void> | undefined;

  async function publishPending(): Promise<number> {
    const { rows } = await db.query<{ seq: string; id: string; type: string; key: string; payload: unknown; occurred_at: Date | string }>(
      'select seq, id, type, key, payload, occurred_at from events.outbox where published_at is null order by seq limit $1',
      [batchSize],
    );
    if (rows.length === 0) return 0;
    const events: EventEnvelope[] = rows.map((r) => ({ id: r.id, type: r.type, key: r.key, payload: r.payload, occurredAt: new Date(r.occurred_at).toISOString() }));
    await transport.publish(events);
    await db.query('update events.outbox set published_at = now() where seq = any($1::bigint[])', [rows.map((r) => r.seq)]);
    return rows.length;
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (running) {
      try {
        const published = await publishPending();
        failures = 0;
        if (published === 0) await waker.sleep(idleMs);
      } catch (error) {
        failures++;
        const delayMs = backoffDelay(failures, 100, 5_000);
        logger.warn({ err: error instanceof Error ? error.message : String(error), delayMs }, 'outbox relay failed to publish; retrying');
        await waker.sleep(delayMs);
      }
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      loop = run();
    },
    async stop() {
      running = false;
      waker.wake();
      await loop;
    },
    nudge: () => waker.wake(),
    publishPending,
    async pending() {
      const { rows } = await db.query<{ n: number }>('select count(*)::int as n from events.outbox where published_at is null');
      return rows[0]!.n;
    },
  };
}
