import pg from 'pg';
import type { Logger } from 'pino';
import type { Database, Queryable } from '../db/database.ts';
import { sqlStateOf } from '../db/database.ts';
import { backoffDelay } from '../resilience/backoff.ts';
import type { EventEnvelope } from './event.ts';
import type { OutboxRelay, RelayOptions, RelayStats } from './relay.ts';
import type { EventTransport } from './transport.ts';
import { createWaker } from './wake.ts';

/**
 * The outbox in the write-ahead log: an alternative to the `events.outbox` table for a PostgreSQL
 * server with `wal_level = logical` (14 or later).
 *
 * A transaction appends its events as one transactional logical decoding message
 * (`pg_logical_emit_message(true, …)`): no row is inserted, indexed, read back or deleted. The
 * relay streams the messages of committed transactions from a logical replication slot (plugin
 * `pgoutput`, `messages 'true'`, over an empty publication), in commit order, publishes them, and
 * only then confirms the commit's end to the slot. On the lab's event path this cut PostgreSQL's
 * CPU per event in half and Node's by a fifth (`lab/README.md`, event-path).
 *
 * Safety, as the table relay's:
 * - a transaction that rolls back emits nothing; one that commits is in the slot until confirmed;
 * - a relay that dies between publish and confirm leaves the slot where it was confirmed last: the
 *   next relay receives those transactions again and republishes them, in order, and the transport
 *   drops the repeats by event id within its dedup window;
 * - several relays on one database take turns: a slot streams to one connection at a time, and a
 *   relay that finds it in use (SQLSTATE 55006) waits and tries again, so it takes over within
 *   `idleMs` of the active relay's death.
 */

/** The prefix of the outbox's messages; others (from other software) are ignored. */
export const WAL_OUTBOX_PREFIX = 'scalemart.outbox';
/** The empty publication the slot is read through: pgoutput needs one, and sends only messages from it. */
const PUBLICATION = 'scalemart_outbox';

/** Appends `envelopes` to the WAL outbox inside `tx`: one message for the transaction's batch. */
export async function emitToWalOutbox(tx: Queryable, envelopes: readonly EventEnvelope[]): Promise<void> {
  await tx.query('select pg_logical_emit_message(true, $1, $2)', [WAL_OUTBOX_PREFIX, JSON.stringify(envelopes)]);
}

/** The slot of a database's outbox: slots are per server, so the database's name is in it. */
export function walOutboxSlot(database: string): string {
  return `scalemart_outbox_${database.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

/**
 * Checks that the server can hold the outbox in its WAL, and creates the publication and the slot
 * when missing (idempotent, safe to race). Returns the slot's name.
 */
export async function ensureWalOutbox(db: Database): Promise<string> {
  const { rows } = await db.query<{ level: string; version: number; database: string }>(
    "select current_setting('wal_level') as level, current_setting('server_version_num')::int as version, current_database() as database",
  );
  const { level, version, database } = rows[0]!;
  if (level !== 'logical' || version < 140_000) {
    throw new Error(`EVENTS_OUTBOX=wal needs PostgreSQL 14 or later with wal_level = logical; this server has ${version} with wal_level = ${level}`);
  }
  const slot = walOutboxSlot(database);
  const tolerate = (...states: string[]) => (error: unknown) => {
    if (!states.includes(sqlStateOf(error) ?? '')) throw error;
  };
  const publication = await db.query('select 1 from pg_publication where pubname = $1', [PUBLICATION]);
  // 42710: created by another process since we looked; 23505: the catalogue's unique index saw the race first.
  if (publication.rows.length === 0) await db.exec(`create publication ${PUBLICATION}`).catch(tolerate('42710', '23505'));
  const existing = await db.query('select 1 from pg_replication_slots where slot_name = $1', [slot]);
  if (existing.rows.length === 0) await db.query("select pg_create_logical_replication_slot($1, 'pgoutput')", [slot]).catch(tolerate('42710'));
  return slot;
}

/**
 * Drops the database's outbox slot (a database with a slot cannot be dropped), once no relay
 * streams it: a stopped relay's walsender may take a moment to exit. Waits at most `waitMs`.
 */
export async function dropWalOutbox(db: Database, waitMs = 10_000): Promise<void> {
  const { rows } = await db.query<{ database: string }>('select current_database() as database');
  const slot = walOutboxSlot(rows[0]!.database);
  const deadline = Date.now() + waitMs;
  for (;;) {
    const { rows: state } = await db.query<{ active: boolean }>('select active from pg_replication_slots where slot_name = $1', [slot]);
    if (state.length === 0) return;
    if (!state[0]!.active || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await db.query('select pg_drop_replication_slot($1)', [slot]);
}

interface Committed {
  events: EventEnvelope[];
  /** The end of the transaction's commit record: confirmed once its events are published. */
  endLsn: bigint;
}

/** Microseconds from the Unix epoch to PostgreSQL's (2000-01-01). */
const PG_EPOCH_US = 946_684_800_000_000n;
const SLOT_IN_USE = '55006';

/** Standby status update: this relay has everything up to `lsn` (flushed, applied). */
function statusUpdate(lsn: bigint, replyRequested: boolean): Buffer {
  const message = Buffer.alloc(34);
  message.write('r', 0);
  message.writeBigUInt64BE(lsn, 1);
  message.writeBigUInt64BE(lsn, 9);
  message.writeBigUInt64BE(lsn, 17);
  message.writeBigInt64BE(BigInt(Date.now()) * 1000n - PG_EPOCH_US, 25);
  message.writeUInt8(replyRequested ? 1 : 0, 33);
  return message;
}

/**
 * Publishes the WAL outbox of `db` (see above). `connectionString` is the same database's: the
 * stream needs a connection of its own in replication mode, outside the pool.
 */
export function createWalRelay(
  deps: {
    db: Database;
    connectionString: string;
    transport: EventTransport;
    logger: Logger;
    /**
     * The relay of the database's outbox table, drained before the first stream: events committed
     * there before the switch to the WAL are published first, in their order.
     */
    leftovers?: OutboxRelay;
  },
  options: RelayOptions = {},
): OutboxRelay {
  const { db, transport, logger } = deps;
  const batchSize = options.batchSize ?? 1_000;
  const idleMs = options.idleMs ?? 500;
  /** Received and not yet published, beyond which the stream is paused until the relay catches up. */
  const maxBuffered = batchSize * 10;
  const stats: RelayStats = { published: 0, batches: 0, contended: 0 };
  const waker = createWaker();
  const progress = createWaker();
  let running = false;
  let loop: Promise<void> | undefined;

  // State of the current stream; reset on each (re)connection, which restarts from `confirmed`.
  let client: pg.Client | undefined;
  let open: EventEnvelope[] | undefined;
  let ready: Committed[] = [];
  let buffered = 0;
  let inFlight = 0;
  /** What the slot has been told: everything before it is published (or had no events). */
  let confirmed = 0n;
  /** The furthest WAL position the server says it has sent. */
  let received = 0n;
  let pump: Promise<void> = Promise.resolve();
  let pumping = false;
  let paused = false;

  const idle = () => open === undefined && ready.length === 0 && inFlight === 0;

  function report(replyRequested = false): void {
    // With nothing held, everything received is done with: confirming it lets the server recycle
    // the WAL that other transactions wrote meanwhile.
    if (idle() && received > confirmed) confirmed = received;
    (client?.connection as unknown as { sendCopyFromChunk(chunk: Buffer): void } | undefined)?.sendCopyFromChunk(statusUpdate(confirmed, replyRequested));
  }

  function onCopyData(chunk: Buffer): void {
    if (chunk[0] === 0x6b) {
      // Keepalive: walEnd (8), clock (8), reply requested (1).
      received = chunk.readBigUInt64BE(1) > received ? chunk.readBigUInt64BE(1) : received;
      if (chunk[17] === 1) report();
      progress.wake();
      return;
    }
    if (chunk[0] !== 0x77) return;
    // XLogData: dataStart (8), walEnd (8), clock (8), then one pgoutput message.
    const message = chunk.subarray(25);
    switch (message[0]) {
      case 0x42: // Begin
        open = [];
        break;
      case 0x4d: {
        // Message: flags (1), lsn (8), prefix (C string), length (4), content.
        const prefixEnd = message.indexOf(0, 10);
        const prefix = message.toString('utf8', 10, prefixEnd);
        const length = message.readInt32BE(prefixEnd + 1);
        if (prefix !== WAL_OUTBOX_PREFIX || open === undefined) break;
        const events = JSON.parse(message.toString('utf8', prefixEnd + 5, prefixEnd + 5 + length)) as EventEnvelope[];
        for (const event of events) open.push(event);
        break;
      }
      case 0x43: {
        // Commit: flags (1), commit lsn (8), end lsn (8), time (8).
        const endLsn = message.readBigUInt64BE(10);
        const events = open ?? [];
        open = undefined;
        if (endLsn > received) received = endLsn;
        if (events.length > 0) {
          ready.push({ events, endLsn });
          buffered += events.length;
          if (buffered >= maxBuffered && !paused) {
            paused = true;
            client?.connection.stream.pause();
          }
          schedulePump();
        } else if (idle()) {
          confirmed = endLsn;
        }
        break;
      }
      default:
        break; // relation, type and origin messages: none for an empty publication
    }
  }

  function schedulePump(): void {
    if (pumping) return;
    pumping = true;
    pump = publishReady().finally(() => (pumping = false));
  }

  async function publishReady(): Promise<void> {
    const stream = client;
    let failures = 0;
    while (ready.length > 0 && stream === client) {
      let take = 0;
      let count = 0;
      while (take < ready.length && (take === 0 || count + ready[take]!.events.length <= batchSize)) count += ready[take++]!.events.length;
      const batch = ready.slice(0, take);
      const events = batch.flatMap((c) => c.events);
      inFlight = events.length;
      try {
        const started = performance.now();
        await transport.publish(events);
        const ms = performance.now() - started;
        failures = 0;
        inFlight = 0;
        if (stream !== client) return; // reconnected meanwhile: the server sends these again
        ready = ready.slice(take);
        buffered -= count;
        stats.published += count;
        stats.batches++;
        confirmed = batch[batch.length - 1]!.endLsn;
        report();
        options.onPublished?.(count, ms);
        progress.wake();
        if (paused && buffered < maxBuffered / 2) {
          paused = false;
          stream?.connection.stream.resume();
        }
      } catch (error) {
        inFlight = 0;
        failures++;
        const delayMs = backoffDelay(failures, 100, 5_000);
        logger.warn({ err: error instanceof Error ? error.message : String(error), delayMs }, 'WAL outbox relay failed to publish; retrying');
        await waker.sleep(delayMs);
        if (!running) return;
      }
    }
  }

  /** One replication connection: streams until it fails or the relay stops. */
  async function stream(slot: string): Promise<void> {
    const connection = new pg.Client({ connectionString: deps.connectionString, replication: 'database' } as pg.ClientConfig);
    connection.on('error', () => undefined);
    await connection.connect();
    client = connection;
    open = undefined;
    ready = [];
    buffered = 0;
    inFlight = 0;
    paused = false;
    connection.connection.on('copyData', (message: { chunk: Buffer }) => onCopyData(message.chunk));
    // The server resumes at the slot's confirmed position; `0/0` asks for nothing earlier.
    const keepalive = setInterval(() => report(), 10_000);
    try {
      await connection.query(`START_REPLICATION SLOT ${slot} LOGICAL 0/0 (proto_version '1', publication_names '${PUBLICATION}', messages 'true')`);
    } finally {
      clearInterval(keepalive);
      if (client === connection) client = undefined;
      await connection.end().catch(() => undefined);
      await pump;
    }
  }

  async function run(): Promise<void> {
    let failures = 0;
    let slot: string | undefined;
    let drained = deps.leftovers === undefined;
    while (running) {
      try {
        slot ??= await ensureWalOutbox(db);
        while (!drained && running) drained = (await deps.leftovers!.publishPending()) === 0;
        await stream(slot);
        failures = 0;
      } catch (error) {
        if (!running) break;
        if (sqlStateOf(error) === SLOT_IN_USE) {
          // Another relay streams this outbox: wait for our turn.
          stats.contended++;
          await waker.sleep(idleMs);
          continue;
        }
        failures++;
        const delayMs = backoffDelay(failures, 100, 5_000);
        logger.warn({ err: error instanceof Error ? error.message : String(error), delayMs }, 'WAL outbox relay lost its stream; reconnecting');
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
      await pump;
      if (client) {
        report();
        await client.end().catch(() => undefined);
      }
      await loop;
    },
    // Commits reach the relay through the stream at once: nothing to nudge.
    nudge: () => undefined,
    /**
     * Waits until everything committed before the call is published and confirmed, or at most
     * 5 s (`idleMs` if longer: another relay may hold the slot); returns how many events this
     * relay published meanwhile.
     */
    async publishPending() {
      const { rows } = await db.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
      const [high, low] = rows[0]!.lsn.split('/');
      const target = (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
      const before = stats.published;
      const deadline = performance.now() + Math.max(idleMs, 5_000);
      while (running && confirmed < target && performance.now() < deadline) {
        const seen = progress.seen();
        report(true);
        await progress.sleep(100, seen);
      }
      return stats.published - before;
    },
    async pending() {
      return buffered + (open?.length ?? 0);
    },
    stats: () => ({ ...stats }),
  };
}
