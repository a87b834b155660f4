import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { Database } from '../../src/platform/db/database.ts';
import { decodeEnvelope } from '../../src/platform/events/jetstream-codec.ts';
import { filterOf } from '../../src/platform/events/jetstream-layout.ts';

export interface BatchedConsumerOptions {
  servers: string;
  stream: string;
  subjectPrefix: string;
  types: readonly string[];
  partitions: number;
  /** Where the inbox rows go (the consumer's own database). */
  db: Database;
  /** The inbox's consumer name; durables are `<durablePrefix>_p<k>`. */
  consumer: string;
  durablePrefix: string;
  /** Most events per pull and per transaction. */
  batch: number;
}

/**
 * A what-if, not Scalemart's consumer: the events already in the stream, consumed the way a
 * partition could be if exactly one puller owned it. One durable per partition with
 * `AckPolicy.All` and up to `batch` events outstanding; each batch is decoded, its inbox rows
 * inserted in one transaction, and its last event acked, which settles the whole batch. Nothing
 * here decides who owns a partition (Scalemart's groups need a fenced lease for that), retries, or
 * dead-letters. It measures what delivery in batches would save against one event in flight per
 * partition. Returns the events handled; stops at each partition's last stored event.
 */
export async function runBatchedConsumer(o: BatchedConsumerOptions): Promise<number> {
  const nc = await connect({ servers: o.servers, noAsyncTraces: true });
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const counts = await Promise.all(Array.from({ length: o.partitions }, async (_, k) => {
      const durable = `${o.durablePrefix}_p${k}`;
      const info = await jsm.consumers.add(o.stream, {
        durable_name: durable, filter_subject: filterOf(o.subjectPrefix, o.types, k),
        ack_policy: AckPolicy.All, deliver_policy: DeliverPolicy.All, max_ack_pending: o.batch * 2,
      });
      if (info.num_pending === 0) return 0;
      const messages = await (await js.consumers.get(o.stream, durable)).consume({ max_messages: o.batch });
      let handled = 0;
      let batch: JsMsg[] = [];
      for await (const msg of messages) {
        batch.push(msg);
        // More of this partition is on its way: keep gathering, up to a batch.
        if (msg.info.pending > 0 && batch.length < o.batch) continue;
        const events = batch.map((m) => ({ id: decodeEnvelope(m.data).id, sequence: m.seq }));
        await o.db.transaction((tx) => tx.query(
          'insert into events.inbox (consumer, event_id, sequence) select $1, * from unnest($2::text[], $3::bigint[]) on conflict do nothing',
          [o.consumer, events.map((e) => e.id), events.map((e) => e.sequence)],
        ));
        batch.at(-1)!.ack();
        handled += batch.length;
        batch = [];
        if (msg.info.pending === 0) break;
      }
      messages.stop();
      return handled;
    }));
    await nc.flush();
    return counts.reduce((a, b) => a + b, 0);
  } finally {
    await nc.drain().catch(() => nc.close());
  }
}
