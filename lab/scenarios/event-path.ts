import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { startNats, stopService } from '../../src/app/infra/services.ts';
import type { Database, Queryable } from '../../src/platform/db/database.ts';
import { migrate } from '../../src/platform/db/migrations.ts';
import { createPostgresDatabase } from '../../src/platform/db/postgres.adapter.ts';
import { startConsumer } from '../../src/platform/events/consumer.ts';
import { eventMigrations } from '../../src/platform/events/events.schema.ts';
import { defaultJetStreamOptions } from '../../src/platform/events/jetstream-options.ts';
import { partitionOf } from '../../src/platform/events/jetstream-layout.ts';
import { createJetStreamTransport } from '../../src/platform/events/jetstream-transport.ts';
import { appendToOutbox } from '../../src/platform/events/outbox.ts';
import { createOutboxRelay, type OutboxRelay } from '../../src/platform/events/relay.ts';
import { createWalRelay, dropWalOutbox, ensureWalOutbox } from '../../src/platform/events/wal-relay.ts';
import { startStandalonePostgres } from '../../src/app/infra/standalone-postgres.ts';
import { createTableTransport } from '../../src/platform/events/table-transport.ts';
import type { EventEnvelope } from '../../src/platform/events/event.ts';
import type { ConsumerSpec, EventTransport } from '../../src/platform/events/transport.ts';
import { createLogger } from '../../src/platform/observability/logger.ts';
import { createLatencyHistogram, type LatencyHistogram, type LatencySummary } from '../drivers/latency-histogram.ts';
import { cpuSince, mainThreadOver, sampleCpu, snapshotCpu, type MainThreadShare } from '../drivers/process-cpu.ts';
import { adminQuery, labDatabaseUrl, LAB_POSTGRES_URL } from '../postgres-admin.ts';
import { runBatchedConsumer } from '../references/batched-consumer.ts';
import { RAW_LAYOUT_LABELS, runRawJetStreamAtRate, runRawJetStreamLoop, type RawAtRateResult, type RawLoopResult } from '../references/raw-jetstream.ts';
import { collectSetup, publishReport, renderTable } from '../report.ts';
import { fixed, formatMs, formatRange, median, percent, spread } from '../stats.ts';
import type { Scenario } from './types.ts';

const RATE_BAR = 0.5;
const P99_BAR_MS = 50;
const NATS_PORT = 24_422;
/** The private PostgreSQL server (wal_level = logical) the paths run on, unless LAB_POSTGRES_URL names one. */
const POSTGRES_PORT = 24_432;
/** Like the machine's server (Debian's defaults) where the infra's settings are smaller. */
const POSTGRES_SETTINGS = 'shared_buffers = 128MB\nmax_connections = 100\nwork_mem = 4MB';
/** Events per drain: enough for a few seconds at the ceiling. */
const DRAIN_EVENTS = 20_000;
/** Events appended per transaction while draining (a busy shop's outbox fills in small batches). */
const APPEND_BATCH = 100;
/**
 * Transactions appending at once while draining, as a shop's request handlers do. One, awaited in
 * turn, became the drain's slowest stage once the relay took batches of 1 000: its appends ended
 * with the drain (8 600–8 700 events/s), where two reached 9 200–9 400 and four, more PostgreSQL
 * work at once on two cores, 5 700–8 000.
 */
const DRAIN_APPENDERS = 2;
const KEYS = 1_000;
const PAD = 'x'.repeat(600);
/**
 * Concurrent appending transactions in the fixed-rate phase, on a pool of their own: a commit here
 * waits 8–10 ms for the disk, so fewer writers could not keep up with the rate and their queue, not
 * the event path, would set the delay.
 */
const APPENDERS = 32;
/** Events per batch of the batched consumer reference (`references/batched-consumer.ts`). */
const REFERENCE_BATCH = 256;
/**
 * The fixed-rate phase's last rate: far below what its 32 one-event-per-transaction writers reach
 * alone on two cores (1 500–6 500 events/s here), so the delay measured is the event path's own,
 * not the writers' queue.
 */
const LOW_RATE = 250;
/**
 * Events per transaction of the fixed-rate row that tests the delay bar. One per transaction costs
 * PostgreSQL 600–700 µs of CPU per event (a commit each): the 32 writers alone reach about 2 000
 * events/s on two cores, so at half the raw loop's rate they append a fifth of what is asked and
 * take the CPU the path would need. At this many per transaction they keep the schedule.
 */
const GROUPED = 20;
/** How long the fixed-rate phase waits for the backlog to drain after the last append. */
const DRAIN_LIMIT_MS = 30_000;
/** Key partitions of the JetStream path: the app's `EVENTS_PARTITIONS` when set, else the transport's default. */
const PARTITIONS = Number(process.env.EVENTS_PARTITIONS ?? defaultJetStreamOptions.partitions);

type LabEvents = { 'lab.event.happened': { n: number; dueAt: number; insertedAt: number; pad: string } };
const SPEC: ConsumerSpec = { name: 'lab.projection', types: ['lab.event.happened'] };
/**
 * `jetstream`: the outbox table → JetStream; `wal`: the outbox in the WAL (EVENTS_OUTBOX=wal) →
 * JetStream; `table`: the outbox table → the table log.
 */
type PathName = 'jetstream' | 'wal' | 'table';
type JetStreamPath = Exclude<PathName, 'table'>;
const JETSTREAM_PATHS: readonly JetStreamPath[] = ['jetstream', 'wal'];
const LABELS: Record<PathName, string> = {
  jetstream: 'outbox table → relay → JetStream → consumer',
  wal: 'outbox in the WAL → relay → JetStream → consumer',
  table: 'outbox table → relay → table log → consumer',
};
/** The server every path's database is made on: the lab's own (started by `run`) or LAB_POSTGRES_URL. */
let postgresUrl = LAB_POSTGRES_URL;

/** One path under test: a fresh database and log, the relay and one transactional consumer group (a read model). */
async function openPath(kind: PathName, natsUrl: string, round: number, onPublished?: (count: number) => void) {
  const name = `scalemart_lab_events_${randomBytes(4).toString('hex')}`;
  await adminQuery(`create database ${name}`, postgresUrl);
  const url = labDatabaseUrl(name, postgresUrl);
  const outbox = kind === 'wal' ? 'wal' : 'table';
  const db: Database = createPostgresDatabase({ connectionString: url, poolSize: 10, outbox });
  // The shop's request handlers: they append to the outbox on connections of their own.
  const writer: Database = createPostgresDatabase({ connectionString: url, poolSize: APPENDERS + 2, outbox });
  await migrate(db, 'events', eventMigrations);
  // The slot exists before the first append, as the app makes sure at start: a message written before it would not be decoded.
  if (kind === 'wal') await ensureWalOutbox(db);
  const logger = createLogger('warn');
  const stream = `LAB_EVENTS_${round}_${randomBytes(3).toString('hex').toUpperCase()}`;
  const transport: EventTransport = kind !== 'table'
    ? await createJetStreamTransport({ servers: natsUrl, stream, subjectPrefix: stream.toLowerCase(), partitions: PARTITIONS, logger })
    : createTableTransport(db, { pollMs: 50 });
  const relayOptions = { idleMs: 20, ...(onPublished ? { onPublished } : {}) };
  // The relay publishes through this: the fixed-rate phase times each event's publish.
  const traced = { onPublish: undefined as ((events: readonly EventEnvelope[]) => void) | undefined };
  const relayTransport: EventTransport = {
    ...transport,
    publish(events) {
      traced.onPublish?.(events);
      return transport.publish(events);
    },
  };
  const relay: OutboxRelay = kind === 'wal'
    ? createWalRelay({ db, connectionString: url, transport: relayTransport, logger }, relayOptions)
    : createOutboxRelay({ db, transport: relayTransport, logger }, relayOptions);
  return {
    name, stream, db, writer, transport, relay, logger, traced,
    async close() {
      await relay.stop();
      await transport.close();
      // A database with a replication slot cannot be dropped.
      if (kind === 'wal') await dropWalOutbox(db);
      await writer.close();
      await db.close();
      await adminQuery(`drop database if exists ${name} with (force)`, postgresUrl);
    },
  };
}
type OpenPath = Awaited<ReturnType<typeof openPath>>;

/** Commits timed by the reference below. */
const COMMITS = 300;

/**
 * The floor under the path's delay: one-row transactions committed one at a time on the paths'
 * server, each timed to its commit's return (the server flushes the WAL to disk first). An event
 * crosses two commits, the writer's and the consumer's, so their tail is in the path's.
 */
async function commitLatency(): Promise<LatencySummary> {
  const name = `scalemart_lab_commits_${randomBytes(4).toString('hex')}`;
  await adminQuery(`create database ${name}`, postgresUrl);
  const db = createPostgresDatabase({ connectionString: labDatabaseUrl(name, postgresUrl), poolSize: 1 });
  try {
    await db.exec('create table commits (id bigint primary key, at text not null)');
    const histogram = createLatencyHistogram();
    for (let i = 0; i < COMMITS; i++) {
      const started = performance.now();
      await db.query('insert into commits (id, at) values ($1, $2)', [i, new Date().toISOString()]);
      histogram.record(performance.now() - started);
    }
    return histogram.summary();
  } finally {
    await db.close();
    await adminQuery(`drop database if exists ${name} with (force)`, postgresUrl);
  }
}

/** The PostgreSQL processes whose CPU a path costs: its database's backends and the server's WAL writer, checkpointer and background writer; undefined when the server is not on this machine. */
function postgresPidsOf(path: OpenPath): () => Promise<number[] | undefined> {
  return async () => ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(postgresUrl).hostname)
    ? (await path.db.query<{ pid: number }>(
      // The WAL path's walsender is one of the database's backends (a logical one names its database).
      "select pid from pg_stat_activity where datname = $1 or backend_type in ('walwriter', 'checkpointer', 'background writer')", [path.name],
    )).rows.map((r) => r.pid)
    : undefined;
}

type LabPayload = LabEvents['lab.event.happened'];

/** The raw loop's layouts timed at a fixed rate: the path's (a durable per partition) and the ceiling's. */
const RAW_DELAY_LAYOUTS = ['durable-per-partition', 'single'] as const;
type RawDelayLayout = (typeof RAW_DELAY_LAYOUTS)[number];

/**
 * Starts the read model's consumer. `onHandled` sees each event once the transaction that carried
 * it (its inbox row, the handler's work) has committed, with the time its handler ran.
 */
function project(path: OpenPath, onHandled: (payload: LabPayload, handledAt: number) => void) {
  // Events whose handler ran in a transaction, until it commits (a rolled-back one forgets them).
  const inTransaction = new WeakMap<Queryable, { payload: LabPayload; at: number }[]>();
  const db: Database = Object.create(path.db, {
    transaction: {
      value: async <T>(fn: (tx: Queryable) => Promise<T>): Promise<T> => {
        let handled: { payload: LabPayload; at: number }[] = [];
        const result = await path.db.transaction((tx) => {
          handled = [];
          inTransaction.set(tx, handled);
          return fn(tx);
        });
        for (const h of handled) onHandled(h.payload, h.at);
        return result;
      },
    },
  });
  return startConsumer({ db, transport: path.transport, logger: path.logger }, {
    ...SPEC,
    transactional: true,
    handle: async (event, tx) => {
      inTransaction.get(tx)?.push({ payload: event.payload as LabPayload, at: performance.now() });
    },
  });
}

const append = (db: Database, from: number, count: number, dueAt: number) =>
  db.transaction((tx) => appendToOutbox<LabEvents>(tx, Array.from({ length: count }, (_, i) => ({
    type: 'lab.event.happened' as const, key: `k${(from + i) % KEYS}`, payload: { n: from + i, dueAt, insertedAt: performance.now(), pad: PAD },
  }))));

/** One drain: its rate, when (ms from its start) the writers' last commit and the relay's last publish came, and the CPU it took. */
interface DrainResult {
  perSecond: number;
  seconds: number;
  appendedMs: number;
  relayedMs: number;
  /** CPU per event of Node, nats-server and PostgreSQL over the drain, every stage running at once. */
  cpu: StageCpu;
  /** How Node's main thread, which runs the writers, the relay and the consumer, spent the drain. */
  main: MainThreadShare;
}

/**
 * Outbox insert → relay → log → consumer, as fast as it goes: events per second until the last one
 * is handled. The clock starts once the consumer group has joined and holds every partition (its
 * warm-up events handled), as in the fixed-rate phase: a running shop's group joined long ago. Until
 * then a drain counted the join too, 0.4–0.5 s of 2 in which nothing was handled. It also reads the
 * CPU the drain took, and notes when the writers' last commit and the relay's last publish came.
 */
async function drain(kind: PathName, nats: { url: string; pid: number }, round: number, events: number): Promise<DrainResult> {
  let published = 0;
  let started = 0;
  let relayedMs = 0;
  // The warm-up events are published too; the relay is done when it has published them all.
  const warmUpEvents = kind !== 'table' ? PARTITIONS : 1;
  const path = await openPath(kind, nats.url, round, (count) => {
    published += count;
    if (published >= events + warmUpEvents) relayedMs = performance.now() - started;
  });
  try {
    let handled = 0;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const joined = warmUp(path, kind);
    const consumer = project(path, (payload) => {
      if (payload.n < 0) joined.handled();
      else if (++handled === events) done();
    });
    path.relay.start();
    await joined.done;
    let appendedMs = 0;
    let main!: MainThreadShare;
    const cpu = await stageCpu(`${kind} drain`, events, nats.pid, postgresPidsOf(path), async () => {
      ({ main } = await mainThreadOver(async () => {
        started = performance.now();
        let next = 0;
        await Promise.all(Array.from({ length: DRAIN_APPENDERS }, async () => {
          for (let n = next; n < events; n = next) {
            next += APPEND_BATCH;
            await append(path.writer, n, Math.min(APPEND_BATCH, events - n), 0);
            path.relay.nudge();
          }
        }));
        appendedMs = performance.now() - started;
        await finished;
      }));
    });
    await consumer.stop();
    return { perSecond: cpu.perSecond, seconds: events / cpu.perSecond, appendedMs, relayedMs, cpu, main };
  } finally {
    await path.close();
  }
}

interface FixedRateResult {
  rate: number;
  /** Events per appending transaction. */
  perTransaction: number;
  /** What the writers appended, from the schedule's start to their last commit: below `rate` when they could not keep up. */
  appendedPerSecond: number;
  sent: number;
  handled: number;
  /** From the outbox insert (its commit included) to the consumer's commit: the event path's delay. */
  latency: LatencySummary;
  /** From the event's due time: also counts time queued for a writer. */
  fromDue: LatencySummary;
  /** Consumer lag plus outbox backlog, sampled every 500 ms. */
  backlog: number[];
  /** The delay hop by hop (HOPS), each event's own. */
  hops: Record<Hop, LatencySummary>;
}

/**
 * The hops of an event's delay: `writer`, from the append to its transaction's commit returning;
 * `relay`, until the relay sends it to the log; `log`, until the consumer's handler runs (the
 * stream stores it, the server delivers it, it waits in the partition owner's and the group
 * commit's queues); `commit`, until the consumer's transaction commits.
 */
const HOPS = ['writer', 'relay', 'log', 'commit'] as const;
type Hop = (typeof HOPS)[number];

/**
 * Events appended one per transaction on a schedule (event i due at start + i/rate, whatever the
 * earlier ones are doing). Each delay is measured from the outbox insert to the consumer's
 * handling (the event path), and from the due time too (queueing for a writer counts there, as it
 * would for a customer waiting for the confirmation email).
 */
/** A key in each partition: `warm-<i>`, the first i that lands in it. */
function warmUpKeys(partitions: number): string[] {
  const keys = new Map<number, string>();
  for (let i = 0; keys.size < partitions; i++) {
    const k = partitionOf(`warm-${i}`, partitions);
    if (!keys.has(k)) keys.set(k, `warm-${i}`);
  }
  return [...keys.values()];
}

/**
 * One warm-up event per partition (`n` -1), appended now: `done` settles once the consumer has
 * handled them all (call `handled` for each), so the group has joined and its owners hold every partition.
 */
function warmUp(path: OpenPath, kind: PathName): { handled(): void; done: Promise<void> } {
  const keys = kind !== 'table' ? warmUpKeys(PARTITIONS) : ['warm'];
  let waiting = keys.length;
  let warm!: () => void;
  const warmed = new Promise<void>((resolve) => (warm = resolve));
  const appended = path.writer.transaction((tx) => appendToOutbox<LabEvents>(tx, keys.map((key) => ({
    type: 'lab.event.happened' as const, key, payload: { n: -1, dueAt: 0, insertedAt: 0, pad: '' },
  })))).then(() => path.relay.nudge());
  return { handled: () => void (--waiting === 0 && warm()), done: Promise.all([appended, warmed]).then(() => undefined) };
}

async function atFixedRate(kind: PathName, natsUrl: string, round: number, rate: number, seconds: number, perTransaction = 1): Promise<FixedRateResult> {
  const path = await openPath(kind, natsUrl, round);
  try {
    const histogram = createLatencyHistogram();
    const fromDue = createLatencyHistogram();
    const total = Math.round(rate * seconds);
    let handled = 0;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    // Each event's times at the hops between writer and consumer, by its number.
    const committedAt = new Float64Array(total);
    const publishedAt = new Float64Array(total);
    const hops = Object.fromEntries(HOPS.map((hop) => [hop, createLatencyHistogram()])) as Record<Hop, LatencyHistogram>;
    path.traced.onPublish = (events) => {
      const now = performance.now();
      for (const event of events) {
        const { n } = event.payload as LabPayload;
        if (n >= 0) publishedAt[n] = now;
      }
    };
    const joined = warmUp(path, kind);
    const consumer = project(path, (payload, handledAt) => {
      if (payload.n < 0) return joined.handled();
      const now = performance.now();
      histogram.record(now - payload.insertedAt);
      fromDue.record(now - payload.dueAt);
      const { n, insertedAt } = payload;
      // The writer's commit resolves on the event loop after the relay may already have the event: at most that, not less than 0.
      const committed = Math.min(committedAt[n]! || publishedAt[n]!, publishedAt[n]!);
      hops.writer.record(committed - insertedAt);
      hops.relay.record(publishedAt[n]! - committed);
      hops.log.record(handledAt - publishedAt[n]!);
      hops.commit.record(now - handledAt);
      if (++handled === total) done();
    });
    path.relay.start();
    // A running shop's consumers joined their group long ago: the schedule starts once this one has,
    // and the writers' connections are open (opening 32 of them costs PostgreSQL a burst of CPU).
    await Promise.all([
      joined.done,
      ...Array.from({ length: APPENDERS }, () => path.writer.transaction((tx) => tx.query('select 1'))),
    ]);
    const backlog: number[] = [];
    const sampler = setInterval(() => {
      void Promise.all([path.transport.lag(SPEC), path.relay.pending()]).then(([lag, pending]) => backlog.push(lag + pending), () => undefined);
    }, 500);
    const start = performance.now();
    // Appends wait for a connection in this queue rather than in the pool's (which times out):
    // an append that waits still counts its delay from its due time. A transaction of several
    // events is due when its first is, and carries them all.
    const queue: number[] = [];
    let next = 0;
    const appender = async () => {
      for (;;) {
        const i = queue.shift();
        if (i === undefined) {
          if (next >= total) return;
          await new Promise((resolve) => setTimeout(resolve, 1));
          continue;
        }
        const count = Math.min(perTransaction, total - i);
        await append(path.writer, i, count, start + (i * 1000) / rate);
        committedAt.fill(performance.now(), i, i + count);
        path.relay.nudge();
      }
    };
    const appenders = Array.from({ length: APPENDERS }, appender);
    for (; next < total; next += perTransaction) {
      const wait = start + (next * 1000) / rate - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      queue.push(next);
    }
    await Promise.all(appenders);
    const appendedPerSecond = total / ((performance.now() - start) / 1000);
    await Promise.race([finished, new Promise((resolve) => setTimeout(resolve, DRAIN_LIMIT_MS))]);
    clearInterval(sampler);
    await consumer.stop();
    return {
      rate, perTransaction, appendedPerSecond, sent: total, handled, latency: histogram.summary(), fromDue: fromDue.summary(), backlog,
      hops: Object.fromEntries(HOPS.map((hop) => [hop, hops[hop].summary()])) as Record<Hop, LatencySummary>,
    };
  } finally {
    await path.close();
  }
}

interface StageCpu {
  stage: string;
  perSecond: number;
  /** CPU µs per event of this Node process (the shop's writers, the relay and the consumer all run here). */
  nodeUs: number;
  natsUs: number;
  /** The lab database's backends and the server's WAL writer, checkpointer and background writer; undefined when the server is not on this machine. */
  postgresUs: number | undefined;
}

/** Runs `work` (`events` events' worth) and reads each process's CPU around it. */
async function stageCpu(stage: string, events: number, natsPid: number, postgresPids: () => Promise<number[] | undefined>, work: () => Promise<void>): Promise<StageCpu> {
  const pgBefore = await postgresPids();
  const pg0 = snapshotCpu(pgBefore ?? []);
  const node0 = sampleCpu(process.pid).totalNs;
  const nats0 = sampleCpu(natsPid).totalNs;
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  const node1 = sampleCpu(process.pid).totalNs;
  const nats1 = sampleCpu(natsPid).totalNs;
  const pgAfter = await postgresPids();
  const pgNs = cpuSince(pg0, [...new Set([...(pgBefore ?? []), ...(pgAfter ?? [])])]);
  const us = (ns: number) => ns / 1000 / events;
  return { stage, perSecond: events / seconds, nodeUs: us(node1 - node0), natsUs: us(nats1 - nats0), postgresUs: pgBefore ? us(pgNs) : undefined };
}

/**
 * Where the path's CPU goes: the raw loop, then the JetStream path one stage at a time (append
 * in batches; append one event per transaction from the fixed-rate phase's writers; relay
 * everything; consume everything; consume everything again with the batched reference), each with
 * the CPU that Node, nats-server and PostgreSQL spent on it per event. Stages run one after
 * another, so each one's figures are its own.
 */
async function cpuByStage(natsUrl: string, natsPid: number, round: number, events: number): Promise<StageCpu[]> {
  const raw = await stageCpu('raw JetStream publish → pull → ack (Node)', events, natsPid, async () => [], async () => {
    await runRawJetStreamLoop({ servers: natsUrl, stream: `LAB_RAW_CPU_${round}`, events });
  });
  const stages = [raw];
  // The same loop over the path's key partitions: what a durable per partition costs the server by
  // itself, and whether a stream per partition (no other partitions' messages to skip) costs less.
  for (const layout of ['durable-per-partition', 'stream-per-partition'] as const) {
    stages.push(await stageCpu(`raw loop, ${PARTITIONS} partitions: ${RAW_LAYOUT_LABELS[layout]}`, events, natsPid, async () => [], async () => {
      await runRawJetStreamLoop({ servers: natsUrl, stream: `LAB_RAW_CPU_${round}_${layout === 'stream-per-partition' ? 'S' : 'D'}`, events, layout, partitions: PARTITIONS });
    }));
  }
  const path = await openPath('jetstream', natsUrl, round);
  try {
    const postgresPids = postgresPidsOf(path);
    stages.push(await stageCpu(`outbox append (${APPEND_BATCH} per transaction)`, events, natsPid, postgresPids, async () => {
      for (let n = 0; n < events; n += APPEND_BATCH) await append(path.writer, n, Math.min(APPEND_BATCH, events - n), 0);
    }));
    // The fixed-rate phase's producer alone, as fast as it goes: its ceiling bounds the rates that phase can be asked for.
    stages.push(await stageCpu(`outbox append (1 per transaction, ${APPENDERS} writers)`, events, natsPid, postgresPids, async () => {
      let next = 0;
      await Promise.all(Array.from({ length: APPENDERS }, async () => {
        for (let i = next++; i < events; i = next++) await append(path.writer, events + i, 1, 0);
      }));
    }));
    stages.push(await stageCpu('relay: read, publish, delete', events * 2, natsPid, postgresPids, async () => {
      while ((await path.relay.publishPending()) > 0);
    }));
    let consumer: { stop(): Promise<void> } | undefined;
    stages.push(await stageCpu('consumer: inbox transaction, ack', events * 2, natsPid, postgresPids, async () => {
      let handled = 0;
      await new Promise<void>((resolve) => {
        consumer = project(path, () => {
          if (++handled === events * 2) resolve();
        });
      });
    }));
    await consumer?.stop();
    stages.push(await stageCpu(`reference: consumer with one owner per partition, batches of ${REFERENCE_BATCH}`, events * 2, natsPid, postgresPids, async () => {
      const handled = await runBatchedConsumer({
        servers: natsUrl, stream: path.stream, subjectPrefix: path.stream.toLowerCase(), types: SPEC.types, partitions: PARTITIONS,
        db: path.db, consumer: 'lab.reference', durablePrefix: 'lab_reference', batch: REFERENCE_BATCH,
      });
      if (handled !== events * 2) throw new Error(`the batched reference handled ${handled} of ${events * 2} events`);
    }));
  } finally {
    await path.close();
  }
  // The outbox in the WAL: its append and its relay (the consumer is the same as above).
  const wal = await openPath('wal', natsUrl, round + 100);
  try {
    const postgresPids = postgresPidsOf(wal);
    stages.push(await stageCpu(`outbox append to the WAL (${APPEND_BATCH} per transaction)`, events, natsPid, postgresPids, async () => {
      for (let n = 0; n < events; n += APPEND_BATCH) await append(wal.writer, n, Math.min(APPEND_BATCH, events - n), 0);
    }));
    stages.push(await stageCpu('relay from the slot: stream, publish, confirm', events, natsPid, postgresPids, async () => {
      wal.relay.start();
      while (wal.relay.stats().published < events) await new Promise((resolve) => setTimeout(resolve, 5));
      await wal.relay.stop();
    }));
    return stages;
  } finally {
    await wal.close();
  }
}

/**
 * The event path's rate and delay: outbox insert → relay → log → a transactional consumer group,
 * on JetStream with the outbox in a table and in the WAL, and on the table log, beside a raw
 * JetStream publish → pull → ack loop from Node (the ceiling) through the same nats-server,
 * alternated over rounds; then each JetStream path's end-to-end delay and backlog at fixed rates,
 * beside the raw loop's own delay at half its ceiling (the delay bar's reference).
 */
export const eventPath: Scenario = {
  description: `events/s outbox → consumer ack on JetStream (outbox table, outbox in the WAL) and the table log vs a raw JetStream loop; bars: JetStream path ≥ ${RATE_BAR * 100} % of raw, p99 delay ≤ ${P99_BAR_MS} ms at half the raw rate`,
  async run(options, { group, log, out }) {
    const dir = await group.tempDir('event-path-nats');
    const nats = await startNats(dir, NATS_PORT);
    const natsUrl = `nats://127.0.0.1:${NATS_PORT}`;
    const natsServer = { url: natsUrl, pid: nats.pid };
    // A server of the lab's own with wal_level = logical, which the WAL path needs and the machine's may not have.
    const postgres = process.env.LAB_POSTGRES_URL ? undefined : await startStandalonePostgres({ port: POSTGRES_PORT, name: 'event-path', settings: POSTGRES_SETTINGS });
    postgresUrl = postgres?.url() ?? LAB_POSTGRES_URL;
    try {
      const rates: Record<'raw' | PathName, number[]> = { raw: [], jetstream: [], wal: [], table: [] };
      const drains: Record<JetStreamPath, DrainResult[]> = { jetstream: [], wal: [] };
      const rawMain: MainThreadShare[] = [];
      // Each counted raw loop's CPU (Node and nats-server), read as the drains' is.
      const rawRounds: StageCpu[] = [];
      const order: ('raw' | PathName)[] = ['raw', 'jetstream', 'wal', 'table'];
      // Warm-up, not counted: JIT, connections, the server's first file blocks. A drain's worth of
      // each: after 2 000 events the first counted round still ran cold (the JetStream path at
      // 8 100–8 600 events/s where later rounds reached 10 500–12 300, and the raw loop at 20 500
      // where later ones reached 27 000–29 000).
      await runRawJetStreamLoop({ servers: natsUrl, stream: 'LAB_RAW_WARMUP', events: DRAIN_EVENTS });
      for (const kind of JETSTREAM_PATHS) await drain(kind, natsServer, 0, DRAIN_EVENTS);
      for (let round = 1; round <= options.rounds; round++) {
        for (const target of round % 2 ? order : [...order].reverse()) {
          let perSecond: number;
          if (target === 'raw') {
            let raw!: { result: RawLoopResult; main: MainThreadShare };
            rawRounds.push(await stageCpu('raw loop', DRAIN_EVENTS, nats.pid, async () => [], async () => {
              raw = await mainThreadOver(() => runRawJetStreamLoop({ servers: natsUrl, stream: `LAB_RAW_${round}`, events: DRAIN_EVENTS }));
            }));
            perSecond = raw.result.perSecond;
            rawMain.push(raw.main);
          } else {
            const drained = await drain(target, natsServer, round, DRAIN_EVENTS);
            if (target !== 'table') drains[target].push(drained);
            perSecond = drained.perSecond;
          }
          rates[target].push(perSecond);
          log(`round ${round} ${target}: ${perSecond.toFixed(0)} events/s`);
        }
      }
      const ratio = (path: PathName) => rates[path].map((r, i) => r / rates.raw[i]!);
      const halfCeiling = Math.round(median(rates.raw) / 2);
      // Each JetStream path at half the raw loop's rate (one event per transaction, then GROUPED),
      // then at half its own rate (GROUPED), where its writers keep the schedule.
      let nextRound = options.rounds + 1;
      const fixedRates = {} as Record<JetStreamPath, { single: FixedRateResult; grouped: FixedRateResult; ownGrouped: FixedRateResult }>;
      for (const kind of JETSTREAM_PATHS) {
        const at = async (rate: number, perTransaction: number, what: string) => {
          log(`${LABELS[kind]} at ${rate} events/s (${what}), ${perTransaction} per transaction, for ${options.openLoopSeconds} s…`);
          return atFixedRate(kind, natsUrl, nextRound++, rate, options.openLoopSeconds, perTransaction);
        };
        fixedRates[kind] = {
          single: await at(halfCeiling, 1, "half the raw loop's median"),
          grouped: await at(halfCeiling, GROUPED, "half the raw loop's median"),
          ownGrouped: await at(Math.round(median(rates[kind]) / 2), GROUPED, 'half its own median'),
        };
      }
      // The delay's reference: JetStream alone at the same rate, in the path's layout and with one durable.
      const rawAtRate = {} as Record<RawDelayLayout, RawAtRateResult>;
      for (const layout of RAW_DELAY_LAYOUTS) {
        log(`raw JetStream loop (${RAW_LAYOUT_LABELS[layout]}) at ${halfCeiling} events/s for ${options.openLoopSeconds} s…`);
        rawAtRate[layout] = await runRawJetStreamAtRate({
          servers: natsUrl, stream: `LAB_RAW_RATE_${nextRound++}`, rate: halfCeiling, seconds: options.openLoopSeconds, layout, partitions: PARTITIONS,
        });
      }
      const commits = await commitLatency();
      // Well inside what the one-event-per-transaction writers sustain on two cores: the path's own delay.
      log(`${LABELS.jetstream} at ${LOW_RATE} events/s for ${options.openLoopSeconds} s…`);
      const lowRate = await atFixedRate('jetstream', natsUrl, nextRound++, LOW_RATE, options.openLoopSeconds);
      log('CPU by stage…');
      const stages = await cpuByStage(natsUrl, nats.pid, nextRound++, DRAIN_EVENTS);
      const [rawCpu, rawPartitioned, rawStreams, batchAppend, singleAppend, relayStage, consumerStage, referenceStage, walAppend, walRelay] = stages;
      const allUs = (st: StageCpu) => st.nodeUs + st.natsUs + (st.postgresUs ?? 0);
      const busyCores = (st: StageCpu) => (allUs(st) * st.perSecond) / 1e6;
      const stageRow = (st: StageCpu) => [st.stage, fixed(st.perSecond), st.nodeUs.toFixed(1), st.natsUs.toFixed(1), st.postgresUs === undefined ? 'n/a' : st.postgresUs.toFixed(1), allUs(st).toFixed(1)];
      // A path's stages one after another: the sum of their CPU per event, and the rate of running them in turn.
      const inTurn = (stage: string, parts: StageCpu[]): StageCpu => ({
        stage,
        perSecond: 1 / parts.reduce((sum, st) => sum + 1 / st.perSecond, 0),
        nodeUs: parts.reduce((sum, st) => sum + st.nodeUs, 0),
        natsUs: parts.reduce((sum, st) => sum + st.natsUs, 0),
        postgresUs: parts.every((st) => st.postgresUs !== undefined) ? parts.reduce((sum, st) => sum + st.postgresUs!, 0) : undefined,
      });
      const tableTotal = inTurn('the path, outbox table (append, relay, consumer), one after another', [batchAppend!, relayStage!, consumerStage!]);
      const walTotal = inTurn('the path, outbox in the WAL (append, relay, consumer), one after another', [walAppend!, walRelay!, consumerStage!]);
      // The bar is judged where the writers delivered the rate asked (within 5 %); a row whose writers fell behind measured a lower rate.
      const kept = (r: FixedRateResult) => r.appendedPerSecond >= 0.95 * r.rate;
      const verdicts = JETSTREAM_PATHS.map((kind) => {
        const { single, grouped } = fixedRates[kind];
        const judged = [single, grouped].find(kept);
        return {
          kind,
          rateHolds: median(ratio(kind)) >= RATE_BAR,
          judged,
          delayHolds: judged !== undefined && judged.handled === judged.sent && judged.latency.p99 <= P99_BAR_MS,
        };
      });
      // A raw row in the delay table: sent stands for appended, delivered for handled; it has no due time apart from the publish.
      const rawDelayRow = (layout: RawDelayLayout, r: RawAtRateResult) => [
        `raw loop, ${RAW_LAYOUT_LABELS[layout]}`, 'half its ceiling', r.rate, '–', fixed(r.sentPerSecond), `${r.received}/${r.sent}`, formatMs(r.latency.p50), formatMs(r.latency.p90), formatMs(r.latency.p99), formatMs(r.latency.p999), formatMs(r.latency.max),
        '–', '–', Math.max(0, ...r.backlog), r.backlog.join(' '),
      ];
      const hopText = (l: LatencySummary) => `${formatMs(l.p50)} / ${formatMs(l.p99)}`;
      const delayRow = (label: string, r: FixedRateResult) => [
        label, r.rate, r.perTransaction, fixed(r.appendedPerSecond), `${r.handled}/${r.sent}`, formatMs(r.latency.p50), formatMs(r.latency.p90), formatMs(r.latency.p99), formatMs(r.latency.p999), formatMs(r.latency.max),
        formatMs(r.fromDue.p50), formatMs(r.fromDue.p99), Math.max(0, ...r.backlog), r.backlog.join(' '),
      ];

      // A figure over rounds: its median (with `unit`), and the rounds' range in brackets ('n/a' when none was read).
      const spreadText = (values: readonly (number | undefined)[], format: (value: number) => string, unit = '') => {
        const read = values.filter((v): v is number => v !== undefined);
        if (read.length === 0) return 'n/a';
        const s = spread(read);
        return `${format(s.median)}${unit} (${format(s.min)}–${format(s.max)})`;
      };
      const digits = (n: number) => (value: number) => value.toFixed(n);
      // Shares of the main thread's time, over the drains and over the raw loop's rounds.
      const mainThread = (of: MainThreadShare[]) =>
        `had work ${spreadText(of.map((m) => m.busy), percent)} of the time (event loop utilization), ran on a core ${spreadText(of.map((m) => m.ran), percent)} and waited for one ${spreadText(of.map((m) => m.waited), percent)}`;
      // µs on a core per event: the share it ran, over the rate in the same window (the whole call, setup included).
      const mainUs = (of: MainThreadShare[], rate: number[]) => {
        const us = of.map((m, i) => (m.ran === undefined ? undefined : (m.ran * 1e6) / rate[i]!)).filter((v): v is number => v !== undefined);
        return us.length === 0 ? 'n/a' : median(us).toFixed(1);
      };
      /** What the drains of one JetStream path spent, beside the raw loop of each round. */
      const drainText = (kind: JetStreamPath, total: StageCpu) => {
        const of = drains[kind];
        const overDrains = (pick: (d: DrainResult) => number, format: (value: number) => string) => spreadText(of.map(pick), format);
        const drainCpu = (pick: (c: StageCpu) => number, n = 1) => overDrains((d) => pick(d.cpu), digits(n));
        // A round's rate ratio is the ratio of busy cores over the ratio of CPU per event (a rate is
        // busy cores over CPU per event): which of the two keeps the path below half the raw loop.
        const overRounds = (pick: (drain: StageCpu, raw: StageCpu) => number) => spreadText(of.map((d, i) => pick(d.cpu, rawRounds[i]!)), digits(2), '×');
        // When the writers' last commit and the relay's last publish came, as a share of the drain.
        const shareOf = (pick: (d: DrainResult) => number) => overDrains((d) => pick(d) / (d.seconds * 1000), (v) => percent(v));
        return [
          `**${LABELS[kind]}.** In its drains, every stage running at once, the path spent ${drainCpu((c) => allUs(c))} µs of CPU per event (Node ${drainCpu((c) => c.nodeUs)}, nats-server ${drainCpu((c) => c.natsUs)}, PostgreSQL ${drainCpu((c) => c.postgresUs ?? Number.NaN)}; median, rounds' range), against ${allUs(total).toFixed(1)} µs with the stages one after another (below), and kept ${drainCpu(busyCores, 2)} of the machine's ${availableParallelism()} cores busy. The writers' last commit came at ${shareOf((d) => d.appendedMs)} of the drain and the relay's last publish at ${shareOf((d) => d.relayedMs)}.`,
          '',
          `Round by round, each drain beside the raw loop of its round: the drain spent ${overRounds((d, r) => allUs(d) / allUs(r))} the raw loop's CPU per event and kept ${overRounds((d, r) => busyCores(d) / busyCores(r))} as many cores busy. Node's main thread, which runs the writers, the relay and the consumer, ${mainThread(of.map((d) => d.main))}: ${mainUs(of.map((d) => d.main), of.map((d) => d.perSecond))} µs on a core per event.`,
          '',
        ];
      };
      const row = (name: string, values: number[], vsRaw: number[] | undefined) => [
        name, fixed(median(values)), formatRange(spread(values)), vsRaw ? percent(median(vsRaw)) : 'reference', vsRaw ? `${percent(Math.min(...vsRaw))}–${percent(Math.max(...vsRaw))}` : '',
      ];
      const reportPaths = await publishReport({
        scenario: 'event-path',
        title: `event-path: ${DRAIN_EVENTS} events per drain (${APPEND_BATCH} per outbox transaction, ${DRAIN_APPENDERS} at once, ${KEYS} keys, ~700-byte payloads, ${PARTITIONS} partitions), ${options.rounds} alternated rounds; then ${options.openLoopSeconds} s at fixed rates`,
        setup: collectSetup('scaled', {
          rounds: options.rounds, drainEvents: DRAIN_EVENTS, appendBatch: APPEND_BATCH, drainAppenders: DRAIN_APPENDERS, keys: KEYS, fixedRate: halfCeiling, fixedSeconds: options.openLoopSeconds,
          nats: 'nats-server 2.9, file storage',
          postgres: postgres ? `the lab's own server (machine's binaries, wal_level = logical, ${POSTGRES_SETTINGS.replaceAll('\n', ', ')})` : postgresUrl.replace(/\/\/[^@]*@/, '//'),
        }),
        table: {
          columns: ['path', 'events/s', 'events/s range', 'vs raw', 'vs raw range'],
          rows: [
            row('raw JetStream publish → pull → ack (Node)', rates.raw, undefined),
            ...(['jetstream', 'wal', 'table'] as const).map((kind) => row(LABELS[kind], rates[kind], ratio(kind))),
          ],
        },
        verdict: [
          `The raw loop spent ${spreadText(rawRounds.map(allUs), digits(1))} µs of CPU per event and kept ${spreadText(rawRounds.map(busyCores), digits(2))} cores busy; its main thread ${mainThread(rawMain)}: ${mainUs(rawMain, rawRounds.map((r) => r.perSecond))} µs per event. A rate is busy cores over CPU per event, so a path reaches 50 % of the raw loop only if its CPU multiple is at most twice its busy-core multiple.`,
          '',
          ...drainText('jetstream', tableTotal),
          ...drainText('wal', walTotal),
          `End-to-end delay at a fixed rate, from ${APPENDERS} writers appending one event per transaction, or ${GROUPED}: from the outbox append (its commit included) to the consumer's commit; "from due" also counts waiting for a writer; backlog = consumer lag + what the relay has not published, every 0.5 s:`,
          '',
          ...renderTable({
            columns: ['path', 'at', 'events/s', 'per tx', 'appended/s', 'handled', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'from due p50', 'from due p99', 'max backlog', 'backlog over time'],
            rows: [
              ...JETSTREAM_PATHS.flatMap((kind) => [
                [kind === 'wal' ? 'outbox in the WAL' : 'outbox table', ...delayRow('half the raw loop', fixedRates[kind].single)],
                [kind === 'wal' ? 'outbox in the WAL' : 'outbox table', ...delayRow('half the raw loop', fixedRates[kind].grouped)],
                [kind === 'wal' ? 'outbox in the WAL' : 'outbox table', ...delayRow('half its own rate', fixedRates[kind].ownGrouped)],
              ]),
              ['outbox table', ...delayRow('a low rate', lowRate)],
              ...RAW_DELAY_LAYOUTS.map((layout) => rawDelayRow(layout, rawAtRate[layout])),
            ],
          }).split('\n'),
          '',
          `The raw rows are the delay's reference: the raw loop (\`references/raw-jetstream.ts\`) publishing on a schedule at half its own median rate, nothing of Scalemart and no database, each delay from the publish to the delivery to a pull (${RAW_DELAY_LAYOUTS.map((l) => `${RAW_LAYOUT_LABELS[l]}: p99 ${formatMs(rawAtRate[l].latency.p99)} ms`).join('; ')}). An event on the path crosses that hop, and two commits besides.`,
          '',
          `Where the delay goes, hop by hop (p50 / p99 ms of each event's own time in the hop; ${HOPS.map((h) => `\`${h}\``).join(', ')}: the writer's commit, until the relay sends it, from there to the consumer's handler through the stream, the server's delivery and the consumer's queues, the consumer's commit):`,
          '',
          ...renderTable({
            columns: ['path', 'at', 'events/s', 'per tx', ...HOPS, 'all'],
            rows: [
              ...JETSTREAM_PATHS.flatMap((kind) => (['single', 'grouped', 'ownGrouped'] as const).map((row) => {
                const r = fixedRates[kind][row];
                return [kind === 'wal' ? 'outbox in the WAL' : 'outbox table', row === 'ownGrouped' ? 'half its own rate' : 'half the raw loop', r.rate, r.perTransaction, ...HOPS.map((h) => hopText(r.hops[h])), hopText(r.latency)];
              })),
              ['outbox table', 'a low rate', lowRate.rate, lowRate.perTransaction, ...HOPS.map((h) => hopText(lowRate.hops[h])), hopText(lowRate.latency)],
            ],
          }).split('\n'),
          '',
          ...JETSTREAM_PATHS.map((kind) => {
            const own = fixedRates[kind].ownGrouped;
            return kept(own)
              ? `${LABELS[kind]}: at half its own rate, ${GROUPED} per transaction, the writers kept the schedule (${fixed(own.appendedPerSecond)} events/s) and the p99 delay was ${formatMs(own.latency.p99)} ms, ${own.latency.p99 <= P99_BAR_MS ? 'within' : 'over'} the bar's ${P99_BAR_MS} ms at a rate the path sustains.`
              : `${LABELS[kind]}: at half its own rate, ${GROUPED} per transaction, the writers appended ${fixed(own.appendedPerSecond)} of the ${own.rate} events/s asked.`;
          }),
          '',
          `The floor under these delays: ${COMMITS} one-row commits one at a time on the same server took p50 ${formatMs(commits.p50)} ms, p99 ${formatMs(commits.p99)} ms, max ${formatMs(commits.max)} ms (the WAL's flush to this machine's disk); each event crosses two, the writer's and the consumer's.`,
          '',
          `CPU per event by stage, each stage alone (${DRAIN_EVENTS} events appended in batches, ${DRAIN_EVENTS} more one per transaction, then all of them relayed, then all consumed by today's consumer group and again by the batched reference; then ${DRAIN_EVENTS} appended to the WAL and relayed from the slot), from /proc; PostgreSQL counts the lab database's backends (the WAL relay's walsender among them) and the server's WAL writer, checkpointer and background writer:`,
          '',
          ...renderTable({
            columns: ['stage', 'events/s', 'Node µs', 'nats-server µs', 'PostgreSQL µs', 'all µs'],
            rows: [...[rawCpu!, rawPartitioned!, rawStreams!, batchAppend!, singleAppend!, relayStage!, consumerStage!, walAppend!, walRelay!].map(stageRow), stageRow(tableTotal), stageRow(walTotal), stageRow(referenceStage!)],
          }).split('\n'),
          '',
          `The raw loop over ${PARTITIONS} partitions, nothing of Scalemart in it: with a durable per partition on one stream (the path's layout) nats-server spent ${(rawPartitioned!.natsUs / rawCpu!.natsUs).toFixed(2)}× its CPU per event with one durable, and with a stream per partition ${(rawStreams!.natsUs / rawCpu!.natsUs).toFixed(2)}×; the whole loop ${(allUs(rawPartitioned!) / allUs(rawCpu!)).toFixed(2)}× and ${(allUs(rawStreams!) / allUs(rawCpu!)).toFixed(2)}×.`,
          '',
          `One stage after another, the path spends ${(allUs(tableTotal) / allUs(rawCpu!)).toFixed(2)}× the CPU per event of the raw loop measured here with the outbox table, and ${(allUs(walTotal) / allUs(rawCpu!)).toFixed(2)}× with the outbox in the WAL (it varies from run to run: the rounds' are above); at the raw loop's busy cores, 50 % of its rate allows at most 2×. The fixed-rate rows ask the one-event-per-transaction writers for ${halfCeiling} events/s; alone, with nothing else running, they reach ${fixed(singleAppend!.perSecond)}.`,
          '',
          ...verdicts.flatMap(({ kind, rateHolds, judged, delayHolds }) => [
            `Bar (${LABELS[kind]}): ≥ ${RATE_BAR * 100} % of the raw loop: ${percent(median(ratio(kind)))}: ${rateHolds ? 'holds' : 'NOT MET'}.`,
            judged
              ? `Bar (${LABELS[kind]}): p99 delay ≤ ${P99_BAR_MS} ms at half the raw loop's rate (${judged.perTransaction} per transaction, appended at ${fixed(judged.appendedPerSecond)} events/s): ${formatMs(judged.latency.p99)} ms: ${delayHolds ? 'holds' : 'NOT MET'}.`
              : `Bar (${LABELS[kind]}): p99 delay ≤ ${P99_BAR_MS} ms at half the raw loop's rate: NOT MET; no row's writers appended at that rate (${fixed(fixedRates[kind].single.appendedPerSecond)} and ${fixed(fixedRates[kind].grouped.appendedPerSecond)} events/s).`,
          ]),
        ],
        data: { rates, drains, rawMain, rawRounds, fixedRates, lowRate, rawAtRate, commits, stages },
      }, out);
      // The product's JetStream path meets the bars when either outbox does (EVENTS_OUTBOX chooses).
      return { barHolds: verdicts.some((v) => v.rateHolds && v.delayHolds), reportPaths };
    } finally {
      await stopService(nats);
      await postgres?.stop();
    }
  },
};
