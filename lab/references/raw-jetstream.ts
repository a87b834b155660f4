import { AckPolicy, jetstream, jetstreamManager, StorageType, type JsMsg } from '@nats-io/jetstream';
import { connect, createInbox, headers, type NatsConnection } from '@nats-io/transport-node';
import { createLatencyHistogram, type LatencySummary } from '../drivers/latency-histogram.ts';

export interface RawLoopResult {
  events: number;
  seconds: number;
  perSecond: number;
}

/**
 * How the raw loop's messages are laid out: `single` (the ceiling), one durable on one stream; or
 * the event path's key partitions without anything else of Scalemart: `durable-per-partition`,
 * one stream whose subjects end in the partition and a durable filtered on each (the path's
 * layout), or `stream-per-partition`, a stream and a durable for each partition.
 */
export type RawLayout = 'single' | 'durable-per-partition' | 'stream-per-partition';

export const RAW_LAYOUT_LABELS: Record<RawLayout, string> = {
  single: 'one durable',
  'durable-per-partition': 'one stream, a durable per partition',
  'stream-per-partition': 'a stream and a durable per partition',
};

/** Where the raw loop's messages go: its streams and durables, one connection. */
interface RawSetup {
  nc: NatsConnection;
  /** Publishes message i (a payload-sized body, `Nats-Msg-Id` `raw-<i>`) to its lane, its acknowledgement to `reply`. */
  publish(i: number, reply: string): void;
  /**
   * Acks every delivery on every pull, after `seen` (when given) has looked at it; `all` settles
   * once `total` have come, and `count` says how many so far.
   */
  ackAll(total: number, seen?: (message: JsMsg) => void): { all: Promise<void>; count(): number };
  /** Ends the pulls, deletes the streams. */
  close(): Promise<void>;
}

interface RawOptions {
  servers: string; stream: string; payloadBytes?: number;
  /** `single` unless told; the partitioned layouts spread messages over `partitions` (default 16) round robin. */
  layout?: RawLayout; partitions?: number;
}

/** Connects, makes the layout's streams and durables (explicit acks), and opens a standing pull on each durable. */
async function setUp(options: RawOptions): Promise<RawSetup> {
  const nc = await connect({ servers: options.servers, noAsyncTraces: true });
  try {
    const jsm = await jetstreamManager(nc);
    const subject = `${options.stream.toLowerCase()}.raw`;
    const layout = options.layout ?? 'single';
    const lanes = layout === 'single' ? 8 : (options.partitions ?? 16);
    // [stream, durable, filter] for each durable the loop pulls from.
    const durables: [string, string, string | undefined][] = layout === 'single'
      ? [[options.stream, 'raw', undefined]]
      : Array.from({ length: lanes }, (_, p) => layout === 'stream-per-partition'
        ? [`${options.stream}_${p}`, 'raw', undefined]
        : [options.stream, `raw_${p}`, `${subject}.${p}`]);
    const streams = layout === 'stream-per-partition'
      ? durables.map(([name], p) => ({ name, subjects: [`${subject}.${p}`] }))
      : [{ name: options.stream, subjects: [`${subject}.>`] }];
    for (const stream of streams) await jsm.streams.add({ ...stream, storage: StorageType.File, duplicate_window: 120_000_000_000 });
    for (const [stream, durable, filter] of durables) {
      await jsm.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.Explicit, max_ack_pending: 10_000, ...(filter ? { filter_subject: filter } : {}) });
    }
    const js = jetstream(nc);
    const pulls = await Promise.all(durables.map(async ([stream, durable]) => (await js.consumers.get(stream, durable)).consume({ max_messages: 1_000 })));
    const body = new TextEncoder().encode(JSON.stringify({ pad: 'x'.repeat(options.payloadBytes ?? 600) }));
    return {
      nc,
      publish(i, reply) {
        const h = headers();
        h.set('Nats-Msg-Id', `raw-${i}`);
        nc.publish(`${subject}.${i % lanes}`, body, { headers: h, reply });
      },
      ackAll(total, seen) {
        let count = 0;
        let done!: () => void;
        const all = new Promise<void>((resolve) => (done = resolve));
        for (const messages of pulls) {
          void (async () => {
            for await (const message of messages) {
              seen?.(message);
              message.ack();
              if (++count === total) done();
            }
          })();
        }
        return { all, count: () => count };
      },
      async close() {
        for (const messages of pulls) await messages.close();
        for (const stream of streams) await jsm.streams.delete(stream.name);
      },
    };
  } catch (error) {
    await nc.close();
    throw error;
  }
}

/**
 * Acknowledgements of core publishes, counted as they come back on one reply subscription:
 * `reply(i)` is the reply subject for message i; `until` waits for a condition on `confirmed`.
 */
function publishAcks(nc: NatsConnection) {
  const inbox = createInbox();
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const acks = {
    confirmed: 0,
    reply: (i: number) => `${inbox}.${i}`,
    async until(done: () => boolean): Promise<void> {
      await new Promise<void>((resolve) => {
        wake = () => (done() || failure) && resolve();
        wake();
      });
      if (failure) throw failure;
    },
    unsubscribe: () => replies.unsubscribe(),
  };
  const replies = nc.subscribe(`${inbox}.*`, {
    callback: (error, msg) => {
      if (error || msg.data.length === 0 || !msg.json<{ seq?: number }>().seq) failure ??= new Error(`publish not stored: ${error?.message ?? msg.string()}`);
      else acks.confirmed++;
      wake?.();
    },
  });
  return acks;
}

/**
 * The event path's ceiling from Node: publish → pull → ack through the same nats-server, with
 * nothing of Scalemart in between. Publishes are pipelined (`window` awaiting acks at once), a
 * durable pull consumer with explicit acks takes them as they land, and the clock runs from the
 * first publish (the streams, durables and pulls are made before) to the last ack. Each message
 * is the size of a typical order event and carries a `Nats-Msg-Id`, as the relay's do, so the
 * server does the same dedup work.
 *
 * A publish is what JetStream's is on the wire, a core publish whose reply subject gets the
 * stream's acknowledgement, with one reply subscription for all of them: the cheapest way from
 * Node, and the way the relay publishes (jetstream-publisher.ts says why not `js.publish`), so
 * the ceiling is not lowered by a client's per-call costs that the path does not pay.
 */
export async function runRawJetStreamLoop(options: RawOptions & { events: number; window?: number }): Promise<RawLoopResult> {
  const raw = await setUp(options);
  const { nc } = raw;
  try {
    const window = options.window ?? 256;
    const started = performance.now();
    const consumed = raw.ackAll(options.events);
    // The publisher waits only when `window` are out.
    const acks = publishAcks(nc);
    for (let i = 0; i < options.events; i++) {
      raw.publish(i, acks.reply(i));
      if (i + 1 - acks.confirmed >= window) await acks.until(() => i + 1 - acks.confirmed < window);
    }
    await acks.until(() => acks.confirmed === options.events);
    acks.unsubscribe();
    await consumed.all;
    // The last ack is sent without waiting for the server; a flush makes sure it left.
    await nc.flush();
    const seconds = (performance.now() - started) / 1000;
    await raw.close();
    return { events: options.events, seconds, perSecond: options.events / seconds };
  } finally {
    await nc.close();
  }
}

export interface RawAtRateResult {
  rate: number;
  sent: number;
  /** What the publisher sent per second, from the schedule's start to its last publish. */
  sentPerSecond: number;
  received: number;
  /** From each message's publish to its delivery to the pull, before the ack. */
  latency: LatencySummary;
  /** Published and not yet delivered, every 500 ms. */
  backlog: number[];
}

/**
 * The same loop at a fixed rate, for the delay: message i is due at start + i/rate and published
 * then (the publisher yields to the event loop between runs of due messages, as the path's writers
 * do between commits); each delay runs from the publish to the message's arrival at its pull,
 * where the path's consumer would start on it. Nothing of Scalemart, no database: the delay
 * JetStream itself adds at that rate on this machine, under the path's.
 */
export async function runRawJetStreamAtRate(options: RawOptions & { rate: number; seconds: number }): Promise<RawAtRateResult> {
  const raw = await setUp(options);
  const { nc } = raw;
  try {
    const total = Math.round(options.rate * options.seconds);
    const sentAt = new Float64Array(total);
    const histogram = createLatencyHistogram();
    const received = raw.ackAll(total, (message) => {
      const i = Number(message.headers?.get('Nats-Msg-Id').slice('raw-'.length));
      histogram.record(performance.now() - sentAt[i]!);
    });
    const acks = publishAcks(nc);
    let sent = 0;
    const backlog: number[] = [];
    const sampler = setInterval(() => backlog.push(sent - received.count()), 500);
    const start = performance.now();
    while (sent < total) {
      const wait = start + (sent * 1000) / options.rate - performance.now();
      await new Promise((resolve) => (wait > 1 ? setTimeout(resolve, wait) : setImmediate(resolve)));
      const now = performance.now();
      for (; sent < total && start + (sent * 1000) / options.rate <= now; sent++) {
        sentAt[sent] = performance.now();
        raw.publish(sent, acks.reply(sent));
      }
    }
    const sentPerSecond = total / ((performance.now() - start) / 1000);
    await Promise.race([received.all, new Promise((resolve) => setTimeout(resolve, 30_000))]);
    clearInterval(sampler);
    // Every publish stored, or the row would hide a failure.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      acks.until(() => acks.confirmed === total),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${total - acks.confirmed} of ${total} publishes not acknowledged`)), 5_000))),
    ]).finally(() => clearTimeout(timer));
    acks.unsubscribe();
    await nc.flush();
    await raw.close();
    return { rate: options.rate, sent: total, sentPerSecond, received: received.count(), latency: histogram.summary(), backlog };
  } finally {
    await nc.close();
  }
}
