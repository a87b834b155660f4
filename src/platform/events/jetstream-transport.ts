import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerConfig } from '@nats-io/jetstream';
import { connect, nanos, errors as natsErrors } from '@nats-io/transport-node';
import type { Delivery, EventEnvelope } from './event.ts';
import { startBroadcast } from './jetstream-broadcast.ts';
import { decodeEnvelope, encodeEnvelope } from './jetstream-codec.ts';
import { incarnationTag, isConsumerNotFound, startPartitionPuller } from './jetstream-group.ts';
import { assertEventType, durableOf, filterOf, partitionOf, subjectOf } from './jetstream-layout.ts';
import { resolveJetStreamOptions, type JetStreamTransportOptions } from './jetstream-options.ts';
import { ensureStream, groupLag } from './jetstream-stream.ts';
import { EventTransportError } from './transport-errors.ts';
import type { ConsumerSpec, EventTransport, Settlement, StartPosition, Subscription, TransportHealth } from './transport.ts';

export type { JetStreamTransportOptions } from './jetstream-options.ts';

const GROUP_NAME = /^[A-Za-z0-9._-]+$/;
// Long enough that idle partitions cost little; stop() cancels a pull at once anyway.
const PULL_EXPIRES_MS = 30_000;
// How often the broadcast floor (the stream's last sequence) is refreshed while idle.
const FLOOR_REFRESH_MS = 5_000;

/**
 * The scaled stage's event log: one JetStream stream (file storage, limits retention), subjects
 * `<prefix>.<module>.<entity>.<verb>.<partition>` with the partition a hash of the key. A group
 * is one durable pull consumer per partition with max_ack_pending 1: any number of instances
 * pull, the server hands each partition's events out one at a time, in order. Built for
 * nats-server 2.9 (one filter subject per consumer, no consumer reset: rewind recreates).
 * Connects, then creates or updates the stream; the client reconnects forever after that.
 */
export async function createJetStreamTransport(options: JetStreamTransportOptions = {}): Promise<EventTransport> {
  const o = resolveJetStreamOptions(options);
  const { logger } = o;
  // noAsyncTraces: the client otherwise builds an Error (a stack trace) up front for every
  // request, every publish and every confirmed ack, in case it fails: a tenth of the event
  // path's CPU. A failure still carries its message and code.
  const nc = await connect({ servers: o.servers, name: `scalemart-events:${o.stream}`, maxReconnectAttempts: -1, reconnectTimeWait: 500, noAsyncTraces: true });
  let floor: number;
  const jsm = await jetstreamManager(nc);
  try {
    floor = (await ensureStream(jsm, o)).state.last_seq;
  } catch (error) {
    await nc.close();
    throw error;
  }
  const js = jetstream(nc);
  const health: TransportHealth = { up: true };
  let closed = false;
  const subscriptions = new Set<Subscription>();
  const generations = new Map<string, number>();
  const raiseFloor = (seq: number) => (floor = Math.max(floor, seq));

  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') Object.assign(health, { up: false, detail: `disconnected from ${s.server}; reconnecting` });
      if (s.type === 'reconnect') Object.assign(health, { up: true, detail: undefined });
      if (s.type === 'disconnect' || s.type === 'reconnect') logger?.warn({ server: s.server }, `event log ${s.type}ed`);
    }
  })();
  const refresh = setInterval(() => {
    if (health.up) jsm.streams.info(o.stream).then((si) => raiseFloor(si.state.last_seq), () => undefined);
  }, FLOOR_REFRESH_MS);
  refresh.unref();

  const groupConfig = (spec: ConsumerSpec, partition: number): Partial<ConsumerConfig> => ({
    filter_subject: filterOf(o.subjectPrefix, spec.types, partition),
    ack_wait: nanos(o.ackWaitMs),
    max_ack_pending: 1,
    max_deliver: -1,
  });

  /** Creates the durable from the start of the log, or updates what may change and keeps its position. */
  async function ensureDurable(spec: ConsumerSpec, partition: number): Promise<void> {
    const durable = durableOf(spec.name, partition);
    const config = groupConfig(spec, partition);
    try {
      const { config: current } = await jsm.consumers.info(o.stream, durable);
      const changed = current.filter_subject !== config.filter_subject || current.ack_wait !== config.ack_wait || current.max_ack_pending !== 1 || current.max_deliver !== -1;
      // update() keeps the rest (start position, description): 2.9 cannot change a start anyway.
      if (changed) await jsm.consumers.update(o.stream, durable, config);
    } catch (error) {
      if (!isConsumerNotFound(error)) throw error;
      // Two processes may both get here: 2.9 takes the second add as an update of the first.
      await jsm.consumers.add(o.stream, { ...config, durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, description: incarnationTag('created') });
    }
  }

  function track(sub: { stop(): Promise<void> }): Subscription {
    const subscription: Subscription = { stop: async () => (subscriptions.delete(subscription), await sub.stop()) };
    subscriptions.add(subscription);
    return subscription;
  }

  function assertSpec(spec: ConsumerSpec): void {
    if (!GROUP_NAME.test(spec.name)) throw new EventTransportError('EVENTS_INVALID_OPTIONS', `consumer name "${spec.name}" must be letters, digits, ".", "-", "_"`);
    filterOf(o.subjectPrefix, spec.types, '*');
  }

  const partitions = Array.from({ length: o.partitions }, (_, k) => k);

  return {
    async publish(events: readonly EventEnvelope[]) {
      if (closed) throw new EventTransportError('EVENTS_CLOSED', 'the event transport is closed');
      events.forEach((e) => assertEventType(e.type));
      if (events.length === 0) return;
      // The client would buffer while reconnecting and time out later; the relay retries sooner.
      if (!health.up) throw new EventTransportError('EVENTS_UNAVAILABLE', `event log unreachable: ${health.detail}`);
      try {
        // Sent back to back, in order (one connection keeps per-key order), then every ack awaited.
        const acks = await Promise.all(events.map((event) => {
          const { data, headers } = encodeEnvelope(event);
          return js.publish(subjectOf(o.subjectPrefix, event.type, partitionOf(event.key, o.partitions)), data, { headers });
        }));
        for (const ack of acks) raiseFloor(ack.seq);
      } catch (error) {
        if (error instanceof natsErrors.TimeoutError || error instanceof natsErrors.ClosedConnectionError || error instanceof natsErrors.RequestError) {
          throw new EventTransportError('EVENTS_UNAVAILABLE', `event log did not acknowledge: ${(error as Error).message}`, { cause: error });
        }
        throw error;
      }
    },

    consume(spec: ConsumerSpec, handle: (delivery: Delivery) => Promise<Settlement>): Subscription {
      if (closed) throw new EventTransportError('EVENTS_CLOSED', 'the event transport is closed');
      assertSpec(spec);
      const types = new Set(spec.types);
      if (spec.delivery === 'broadcast') {
        const filter = filterOf(o.subjectPrefix, spec.types, '*');
        // Everything published after this call has a higher sequence than any already acked.
        return track(startBroadcast({ js, stream: o.stream, filter, types, after: floor, handle, seen: raiseFloor, logger }));
      }
      const pullers = partitions.map((k) => startPartitionPuller({
        js, stream: o.stream, durable: durableOf(spec.name, k), types, handle, logger,
        ensure: () => ensureDurable(spec, k),
        ackWaitMs: o.ackWaitMs,
        pullExpiresMs: PULL_EXPIRES_MS,
        flush: () => nc.flush(),
        generation: () => generations.get(spec.name) ?? 0,
      }));
      return track({ stop: async () => void (await Promise.all(pullers.map((p) => p.stop()))) });
    },

    async rewind(spec: ConsumerSpec, from: StartPosition) {
      assertSpec(spec);
      if (spec.delivery === 'broadcast') return; // no position to move
      generations.set(spec.name, (generations.get(spec.name) ?? 0) + 1);
      const start: Partial<ConsumerConfig> = 'sequence' in from
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, from.sequence) }
        : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: from.time.toISOString() };
      // 2.9 cannot move a consumer: delete and recreate each durable. Running pull loops see their
      // consumer deleted and re-attach to the new one; one of them may recreate it in between
      // (with the wrong start), so a failed create deletes and tries again.
      await Promise.all(partitions.map(async (k) => {
        const durable = durableOf(spec.name, k);
        const config = { ...groupConfig(spec, k), ...start, durable_name: durable, ack_policy: AckPolicy.Explicit, description: incarnationTag(`rewound to ${JSON.stringify(from)}`) };
        for (let attempt = 1; ; attempt++) {
          await jsm.consumers.delete(o.stream, durable).catch((error: unknown) => {
            if (!isConsumerNotFound(error)) throw error;
          });
          try {
            await jsm.consumers.add(o.stream, config);
            return;
          } catch (error) {
            if (attempt >= 5) throw error;
          }
        }
      }));
    },

    lag: (spec) => (spec.delivery === 'broadcast' ? Promise.resolve(0) : groupLag(jsm, o, spec)),

    async read(fromSequence: number, limit: number): Promise<Delivery[]> {
      const last = (await jsm.streams.info(o.stream)).state.last_seq;
      if (limit <= 0 || fromSequence > last) return [];
      const consumer = await js.consumers.get(o.stream, { opt_start_seq: Math.max(1, fromSequence) });
      const out: Delivery[] = [];
      try {
        const batch = await consumer.fetch({ max_messages: limit, expires: 5_000 });
        for await (const msg of batch) {
          out.push({ event: decodeEnvelope(msg.data), sequence: msg.seq, attempt: 1 });
          // pending 0: nothing after this one yet; the fetch would only wait for its expiry.
          if (out.length >= limit || msg.info.pending === 0 || msg.seq >= last) break;
        }
        batch.stop();
      } finally {
        await consumer.delete().catch(() => undefined);
      }
      return out;
    },

    health: () => ({ ...health }),

    async close() {
      if (closed) return;
      closed = true;
      clearInterval(refresh);
      await Promise.all([...subscriptions].map((s) => s.stop()));
      // Drain flushes the last acks; while disconnected there is nothing to flush into.
      if (health.up) await nc.drain().catch(() => nc.close());
      else await nc.close();
    },
  };
}
