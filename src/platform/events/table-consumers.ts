import type { Database } from '../db/database.ts';
import type { Delivery, EventEnvelope } from './event.ts';
import type { Settlement } from './transport.ts';
import { createWaker } from './wake.ts';

export interface LogRow {
  seq: string | number;
  id: string;
  type: string;
  key: string;
  payload: unknown;
  occurred_at: Date | string;
  context: EventEnvelope['context'] | null;
}

export const LOG_COLUMNS = 'l.seq, l.id, l.type, l.key, l.payload, l.occurred_at, l.context';

export const toDelivery = (row: LogRow, attempt: number): Delivery => {
  const event: EventEnvelope = { id: row.id, type: row.type, key: row.key, payload: row.payload, occurredAt: new Date(row.occurred_at).toISOString() };
  return { sequence: Number(row.seq), attempt, event: row.context ? { ...event, context: row.context } : event };
};

export interface LoopDeps {
  db: Database;
  name: string;
  types: readonly string[];
  handle: (delivery: Delivery) => Promise<Settlement>;
  /** Woken by publishes in this process. */
  published: ReturnType<typeof createWaker>;
  pollMs: number;
}

/**
 * Runs `step` until stopped; a failed step (the database hiccuped or is closing) waits a poll
 * and tries again: nothing was settled. `step` returns false when it found nothing to do.
 */
export function runLoop(deps: LoopDeps, step: (running: () => boolean, stopping: ReturnType<typeof createWaker>) => Promise<boolean>, onStop?: () => Promise<void>) {
  let running = true;
  const stopping = createWaker();
  const loop = (async () => {
    while (running) {
      try {
        // A publish while this step reads (one it may not have seen) means: read again at once.
        const seen = deps.published.seen();
        if (!(await step(() => running, stopping))) await Promise.race([deps.published.sleep(deps.pollMs, seen), stopping.sleep(deps.pollMs)]);
      } catch {
        if (running) await stopping.sleep(deps.pollMs);
      }
    }
  })();
  return {
    async stop() {
      running = false;
      stopping.wake();
      await loop;
      await onStop?.().catch(() => undefined);
    },
  };
}

/**
 * Hands one event to the handler until it is acknowledged, retrying in process after each
 * delay. Returns false when stopped (or `stillOurs` said no) before the ack: the event stays
 * unsettled and is delivered again later.
 */
export async function handleUntilAck(deps: LoopDeps, row: LogRow, running: () => boolean, stopping: ReturnType<typeof createWaker>, stillOurs: () => boolean = () => true): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    const settlement = await deps.handle(toDelivery(row, attempt));
    if (settlement.kind === 'ack') return true;
    await stopping.sleep(settlement.delayMs);
    if (!running() || !stillOurs()) return false;
  }
}

/**
 * A broadcast subscriber: its position lives in memory only and starts at the log's end, so it
 * receives what is appended after it subscribed, and leaves nothing behind.
 */
export function startTableBroadcast(deps: LoopDeps) {
  const { db } = deps;
  const logEnd = () => db.query<{ n: string }>('select coalesce(max(seq), 0) as n from events.log').then((r) => Number(r.rows[0]!.n));
  // Asked at once. PGlite runs statements in call order, so a publish issued after consume() lands
  // after this read; a PostgreSQL pool may run the two on different connections in either order,
  // so the transport's publishes wait for `started` (table-transport.ts).
  let start = logEnd();
  let position: number | undefined;
  const loop = runLoop(deps, async (running, stopping) => {
    if (position === undefined) {
      try {
        position = await start;
      } catch (error) {
        start = logEnd();
        throw error;
      }
    }
    const { rows } = await db.query<LogRow>(
      `select ${LOG_COLUMNS} from events.log l where l.seq > $1 and l.type = any($2::text[]) order by l.seq limit 100`,
      [position, deps.types],
    );
    for (const row of rows) {
      if (!(await handleUntilAck(deps, row, running, stopping))) return true;
      position = Number(row.seq);
    }
    return rows.length > 0;
  });
  /** Settles once the first read of the log's end has: events appended after that are delivered. */
  const started: Promise<unknown> = start.then(() => undefined, () => undefined);
  return { ...loop, started };
}
