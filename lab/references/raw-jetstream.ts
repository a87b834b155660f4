import { AckPolicy, jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect, createInbox, headers } from '@nats-io/transport-node';

export interface RawLoopResult {
  events: number;
  seconds: number;
  perSecond: number;
}

/**
 * The event path's ceiling from Node: publish → pull → ack through the same nats-server, with
 * nothing of Scalemart in between. Publishes are pipelined (`window` awaiting acks at once), a
 * durable pull consumer with explicit acks takes them as they land, and the clock stops at the
 * last ack. Each message is the size of a typical order event and carries a `Nats-Msg-Id`, as
 * the relay's do, so the server does the same dedup work.
 *
 * A publish is what JetStream's is on the wire, a core publish whose reply subject gets the
 * stream's acknowledgement, with one reply subscription for all of them: the cheapest way from
 * Node, and the way the relay publishes (jetstream-publisher.ts says why not `js.publish`), so
 * the ceiling is not lowered by a client's per-call costs that the path does not pay.
 */
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

export async function runRawJetStreamLoop(options: {
  servers: string; stream: string; events: number; payloadBytes?: number; window?: number;
  /** `single` unless told; the partitioned layouts spread messages over `partitions` (default 16) round robin. */
  layout?: RawLayout; partitions?: number;
}): Promise<RawLoopResult> {
  const nc = await connect({ servers: options.servers, noAsyncTraces: true });
  try {
    const jsm = await jetstreamManager(nc);
    const subject = `${options.stream.toLowerCase()}.raw`;
    const layout = options.layout ?? 'single';
    // Subjects `<subject>.<i mod lanes>`; a lane is a partition, or one of 8 subjects for `single`.
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
    const body = new TextEncoder().encode(JSON.stringify({ pad: 'x'.repeat(options.payloadBytes ?? 600) }));
    const window = options.window ?? 256;

    const started = performance.now();
    let acked = 0;
    let allAcked!: () => void;
    const consumedAll = new Promise<void>((resolve) => (allAcked = resolve));
    const pulls = await Promise.all(durables.map(async ([stream, durable]) => (await js.consumers.get(stream, durable)).consume({ max_messages: 1_000 })));
    for (const messages of pulls) {
      void (async () => {
        for await (const message of messages) {
          message.ack();
          if (++acked === options.events) allAcked();
        }
      })();
    }
    // Acknowledgements counted as they come back; the publisher waits only when `window` are out.
    const inbox = createInbox();
    let confirmed = 0;
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const replies = nc.subscribe(`${inbox}.*`, {
      callback: (error, msg) => {
        if (error || msg.data.length === 0 || !msg.json<{ seq?: number }>().seq) failure ??= new Error(`publish not stored: ${error?.message ?? msg.string()}`);
        else confirmed++;
        wake?.();
      },
    });
    const until = async (done: () => boolean) => {
      await new Promise<void>((resolve) => {
        wake = () => (done() || failure) && resolve();
        wake();
      });
      if (failure) throw failure;
    };
    for (let i = 0; i < options.events; i++) {
      const h = headers();
      h.set('Nats-Msg-Id', `raw-${i}`);
      nc.publish(`${subject}.${i % lanes}`, body, { headers: h, reply: `${inbox}.${i}` });
      if (i + 1 - confirmed >= window) await until(() => i + 1 - confirmed < window);
    }
    await until(() => confirmed === options.events);
    replies.unsubscribe();
    await consumedAll;
    // The last ack is sent without waiting for the server; a flush makes sure it left.
    await nc.flush();
    const seconds = (performance.now() - started) / 1000;
    for (const messages of pulls) await messages.close();
    for (const stream of streams) await jsm.streams.delete(stream.name);
    return { events: options.events, seconds, perSecond: options.events / seconds };
  } finally {
    await nc.close();
  }
}
