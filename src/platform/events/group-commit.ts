import type { Database, Queryable } from '../db/database.ts';
import type { EventEnvelope } from './event.ts';

export interface GroupCommitDeps {
  db: Database;
  /** The consumer's name: its inbox rows. */
  consumer: string;
  /** The consumer's work for one event, inside the shared transaction. */
  handle(event: EventEnvelope, tx: Queryable): Promise<void>;
  /** Events per transaction at most. */
  maxBatch: number;
}

/** `committed`: the transport may ack; `alone`: go again through the one-event path; `failed`: it went alone and failed. */
export type GroupCommitOutcome = { kind: 'committed' } | { kind: 'alone' } | { kind: 'failed'; error: unknown };

interface Waiting {
  event: EventEnvelope;
  sequence: number;
  resolve(outcome: GroupCommitOutcome): void;
}

/**
 * Commits a transactional consumer's first deliveries together, the way a database groups
 * commits: while one transaction is in flight, the deliveries that arrive (from other partitions:
 * a partition has one event in flight) wait, and go together in the next one: their inbox rows,
 * then the handler for each new event in arrival order, one commit. Alone, an event goes at once:
 * nothing waits for company. Each delivery is told `committed` once its effects are committed
 * (the transport may ack it). When a shared transaction of several fails, each of its events is
 * told `alone` and goes again through the one-event path, so one poison event retries, or
 * reaches dead letters, by itself; an event that failed alone is told `failed`, with the error.
 */
export function createGroupCommit(deps: GroupCommitDeps): (event: EventEnvelope, sequence: number) => Promise<GroupCommitOutcome> {
  const { db, consumer, handle, maxBatch } = deps;
  let queue: Waiting[] = [];
  let flushing = false;

  async function commit(batch: Waiting[]): Promise<void> {
    try {
      await db.transaction(async (tx) => {
        const { rows } = await tx.query<{ event_id: string }>(
          `insert into events.inbox (consumer, event_id, sequence)
           select $1, * from unnest($2::text[], $3::bigint[]) on conflict do nothing returning event_id`,
          [consumer, batch.map((w) => w.event.id), batch.map((w) => w.sequence)],
        );
        // Already in the inbox (a redelivery after a lost ack): recorded once, nothing to redo.
        const fresh = new Set(rows.map((r) => r.event_id));
        for (const w of batch) {
          if (fresh.delete(w.event.id)) await handle(w.event, tx);
        }
      });
      for (const w of batch) w.resolve({ kind: 'committed' });
    } catch (error) {
      for (const w of batch) w.resolve(batch.length === 1 ? { kind: 'failed', error } : { kind: 'alone' });
    }
  }

  async function flush(): Promise<void> {
    flushing = true;
    try {
      while (queue.length > 0) {
        const batch = queue.slice(0, maxBatch);
        queue = queue.slice(batch.length);
        await commit(batch);
      }
    } finally {
      flushing = false;
    }
  }

  return (event, sequence) => new Promise<GroupCommitOutcome>((resolve) => {
    queue.push({ event, sequence, resolve });
    if (!flushing) void flush();
  });
}
