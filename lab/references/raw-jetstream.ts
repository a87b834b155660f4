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
export async function runRawJetStreamLoop(options: { servers: string; stream: string; events: number; payloadBytes?: number; window?: number }): Promise<RawLoopResult> {
  const nc = await connect({ servers: options.servers, noAsyncTraces: true });
  try {
    const jsm = await jetstreamManager(nc);
    const subject = `${options.stream.toLowerCase()}.raw`;
    await jsm.streams.add({ name: options.stream, subjects: [`${subject}.>`], storage: StorageType.File, duplicate_window: 120_000_000_000 });
    await jsm.consumers.add(options.stream, { durable_name: 'raw', ack_policy: AckPolicy.Explicit, max_ack_pending: 10_000 });
    const js = jetstream(nc);
    const consumer = await js.consumers.get(options.stream, 'raw');
    const body = new TextEncoder().encode(JSON.stringify({ pad: 'x'.repeat(options.payloadBytes ?? 600) }));
    const window = options.window ?? 256;

    const started = performance.now();
    let acked = 0;
    const messages = await consumer.consume({ max_messages: 1_000 });
    const consumed = (async () => {
      for await (const message of messages) {
        message.ack();
        if (++acked === options.events) break;
      }
    })();
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
      nc.publish(`${subject}.${i % 8}`, body, { headers: h, reply: `${inbox}.${i}` });
      if (i + 1 - confirmed >= window) await until(() => i + 1 - confirmed < window);
    }
    await until(() => confirmed === options.events);
    replies.unsubscribe();
    await consumed;
    // The last ack is sent without waiting for the server; a flush makes sure it left.
    await nc.flush();
    const seconds = (performance.now() - started) / 1000;
    await messages.close();
    await jsm.streams.delete(options.stream);
    return { events: options.events, seconds, perSecond: options.events / seconds };
  } finally {
    await nc.close();
  }
}
