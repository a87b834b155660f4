import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerConfig, type ConsumerInfo } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, nanos } from '@nats-io/transport-node';
import type { Delivery, EventEnvelope } from './event.ts';
import { startBroadcast } from './jetstream-broadcast.ts';
import { decodeEnvelope, encodeEnvelope } from './jetstream-codec.ts';
import { incarnationTag, isConsumerNotFound, REWOUND, startPartitionOwner } from './jetstream-group.ts';
import { assertEventType, durableOf, filterOf, groupToken, legacyDurableOf, partitionOf, subjectOf } from './jetstream-layout.ts';
import { sharedKeyListing, startPartitionAssignment } from './jetstream-leases.ts';
import { resolveJetStreamOptions, type JetStreamTransportOptions } from './jetstream-options.ts';
import { createJetStreamPublisher } from './jetstream-publisher.ts';
import { ensureStream, groupLag } from './jetstream-stream.ts';
import { EventTransportError } from './transport-errors.ts';
import type { BatchHandler, ConsumerSpec, EventTransport, Settlement, StartPosition, Subscription, TransportHealth } from './transport.ts';

export type { JetStreamTransportOptions } from './jetstream-options.ts';

const GROUP_NAME = /^[A-Za-z0-9._-]+$/;
// Long enough that idle partitions cost little; stop() cancels a pull at once anyway.
const PULL_EXPIRES_MS = 30_000;
// How often the broadcast floor (the stream's last sequence) is refreshed while idle.
const FLOOR_REFRESH_MS = 5_000;
// How long a publish waits for the stream's acknowledgements (the client's own default).
const PUBLISH_TIMEOUT_MS = 5_000;

/**
 * The scaled stage's event log: one JetStream stream (file storage, limits retention), subjects
 * `<prefix>.<module>.<entity>.<verb>.<partition>` with the partition a hash of the key. A group
 * is one durable pull consumer per partition (ack policy `all`); its subscribers, in any number
 * of processes, spread the partitions among themselves through two KV buckets
 * (`<stream>_members`, `<stream>_owners`; jetstream-leases.ts), and each partition's one owner
 * takes its events in batches, in order. Built for nats-server 2.9 (one filter subject per
 * consumer, no consumer reset: rewind and takeover recreate). Connects, then creates or updates
 * the stream and the buckets; the client reconnects forever after that.
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
  let members: Awaited<ReturnType<Kvm['create']>>;
  let owners: Awaited<ReturnType<Kvm['create']>>;
  let leaseTtlMs: number;
  let listMembers: (notBefore: number) => Promise<readonly string[]>;
  try {
    // Memberships age out after the term; an existing bucket keeps the term it was made with, and
    // every member reads it from the server. Who holds which partition lives beside them.
    const kvm = new Kvm(js);
    const timeout = Math.max(1_000, Math.floor(o.leaseTtlMs / 3));
    members = await kvm.create(`${o.stream}_members`, { ttl: o.leaseTtlMs, history: 1, timeout });
    owners = await kvm.create(`${o.stream}_owners`, { history: 1, timeout });
    leaseTtlMs = (await members.status()).ttl || o.leaseTtlMs;
    listMembers = sharedKeyListing(members, Math.floor(leaseTtlMs / 6));
  } catch (error) {
    await nc.close();
    throw error;
  }
  const publisher = createJetStreamPublisher(nc, { timeoutMs: PUBLISH_TIMEOUT_MS });
  const health: TransportHealth = { up: true };
  let closed = false;
  const subscriptions = new Set<Subscription>();
  const generations = new Map<string, number>();
  const raiseFloor = (seq: number) => (floor = Math.max(floor, seq));

  // Told on every reconnect. The client's own recovery of a pull asks for the consumer's info, and
  // if the restarted server's JetStream is not ready yet, asks again only after jitter(expires):
  // 15–45 s with our 30 s pulls, heartbeats unwatched meanwhile, and a second reconnect in that
  // time does not cut it short (@nats-io/jetstream 3.4, consumer.js resetPendingWithInfo). So
  // every puller here ends its pull on a reconnect and attaches afresh, with its own short backoff.
  const reconnectListeners = new Set<() => void>();
  const onReconnect = (listener: () => void) => {
    reconnectListeners.add(listener);
    return () => void reconnectListeners.delete(listener);
  };

  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') Object.assign(health, { up: false, detail: `disconnected from ${s.server}; reconnecting` });
      if (s.type === 'reconnect') {
        Object.assign(health, { up: true, detail: undefined });
        for (const listener of reconnectListeners) listener();
      }
      if (s.type === 'disconnect' || s.type === 'reconnect') logger?.warn({ server: s.server }, `event log ${s.type}ed`);
    }
  })();
  const refresh = setInterval(() => {
    if (health.up) jsm.streams.info(o.stream).then((si) => raiseFloor(si.state.last_seq), () => undefined);
  }, FLOOR_REFRESH_MS);
  refresh.unref();

  const groupConfig = (spec: ConsumerSpec, partition: number) => ({
    filter_subject: filterOf(o.subjectPrefix, spec.types, partition),
    ack_wait: nanos(o.ackWaitMs),
    // Room for the batch in hand and the next one arriving meanwhile.
    max_ack_pending: 2 * o.batch,
    max_deliver: -1,
  });
  const createConfig = (spec: ConsumerSpec, partition: number, start: Partial<ConsumerConfig>, what: string): Partial<ConsumerConfig> => ({
    ...groupConfig(spec, partition), ...start, durable_name: durableOf(spec.name, partition), ack_policy: AckPolicy.All, description: incarnationTag(what),
  });

  /**
   * Creates the durable, or updates what may change and keeps its position. A durable of the
   * earlier layout (one at a time, ack policy explicit; 2.9 cannot change an ack policy) is
   * succeeded by a new one starting after its ack floor, then deleted.
   */
  async function ensureDurable(spec: ConsumerSpec, partition: number): Promise<ConsumerInfo> {
    const durable = durableOf(spec.name, partition);
    const config = groupConfig(spec, partition);
    try {
      const info = await jsm.consumers.info(o.stream, durable);
      const current = info.config;
      const changed = current.filter_subject !== config.filter_subject || current.ack_wait !== config.ack_wait || current.max_ack_pending !== config.max_ack_pending || current.max_deliver !== -1;
      // update() keeps the rest (start position, description): 2.9 cannot change a start anyway.
      return changed ? await jsm.consumers.update(o.stream, durable, config) : info;
    } catch (error) {
      if (!isConsumerNotFound(error)) throw error;
    }
    const legacy = legacyDurableOf(spec.name, partition);
    const before = await jsm.consumers.info(o.stream, legacy).catch((error: unknown) => {
      if (isConsumerNotFound(error)) return undefined;
      throw error;
    });
    const start: Partial<ConsumerConfig> = before
      ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: before.ack_floor.stream_seq + 1 }
      : { deliver_policy: DeliverPolicy.All };
    let created: ConsumerInfo;
    try {
      created = await jsm.consumers.add(o.stream, createConfig(spec, partition, start, before ? `succeeded ${legacy}` : 'created'));
    } catch (error) {
      // Another member created it meanwhile (the description differs, so 2.9 refuses the second).
      created = await jsm.consumers.info(o.stream, durable).catch(() => Promise.reject(error));
    }
    if (before) await jsm.consumers.delete(o.stream, legacy).catch(() => undefined);
    return created;
  }

  /** Deletes the durable and creates it again from `start` (2.9 cannot move a consumer); retried when another create gets in between. */
  async function recreate(spec: ConsumerSpec, partition: number, start: Partial<ConsumerConfig>, what: string): Promise<ConsumerInfo> {
    const durable = durableOf(spec.name, partition);
    for (let attempt = 1; ; attempt++) {
      await jsm.consumers.delete(o.stream, durable).catch((error: unknown) => {
        if (!isConsumerNotFound(error)) throw error;
      });
      try {
        return await jsm.consumers.add(o.stream, createConfig(spec, partition, start, what));
      } catch (error) {
        if (attempt >= 5) throw error;
      }
    }
  }

  /**
   * Readies a partition for a pull by its owner. Events a previous owner took and did not settle
   * (killed, or handed the partition back with more delivered), or an earlier pull of this owner
   * (a dropped connection, a restarted server), would come back only after the ack wait, and
   * behind later events: so the durable starts again right after its ack floor. A
   * paused previous owner that still commits afterwards changes nothing: the consumer's inbox
   * takes each event once, and it can only ack what it settled.
   */
  async function takeOver(spec: ConsumerSpec, partition: number, create: boolean): Promise<ConsumerInfo> {
    const info = create ? await ensureDurable(spec, partition) : await jsm.consumers.info(o.stream, durableOf(spec.name, partition));
    if (info.num_ack_pending === 0) return info;
    return recreate(spec, partition, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: info.ack_floor.stream_seq + 1 }, 'taken over');
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
      // Sent back to back, in order (one connection keeps per-key order), then every ack awaited.
      const sequences = await publisher.publish(events.map((event) => ({
        subject: subjectOf(o.subjectPrefix, event.type, partitionOf(event.key, o.partitions)), ...encodeEnvelope(event),
      })));
      for (const seq of sequences) raiseFloor(seq);
    },

    consume(spec: ConsumerSpec, handle: (delivery: Delivery) => Promise<Settlement>, handleBatch?: BatchHandler): Subscription {
      if (closed) throw new EventTransportError('EVENTS_CLOSED', 'the event transport is closed');
      assertSpec(spec);
      const types = new Set(spec.types);
      if (spec.delivery === 'broadcast') {
        const filter = filterOf(o.subjectPrefix, spec.types, '*');
        // Everything published after this call has a higher sequence than any already acked.
        return track(startBroadcast({ js, stream: o.stream, filter, types, after: floor, handle, seen: raiseFloor, onReconnect, logger }));
      }
      const assignment = startPartitionAssignment({
        members, owners, ttlMs: leaseTtlMs, listMembers, group: groupToken(spec.name), partitions: o.partitions, logger,
        start: (k, valid) => startPartitionOwner({
          js, stream: o.stream, durable: durableOf(spec.name, k), types, handle, handleBatch, logger, valid, onReconnect,
          takeOver: (create) => takeOver(spec, k, create),
          batch: o.batch,
          ackWaitMs: o.ackWaitMs,
          pullExpiresMs: PULL_EXPIRES_MS,
          flush: () => nc.flush(),
          generation: () => generations.get(spec.name) ?? 0,
        }),
      });
      return track(assignment);
    },

    async rewind(spec: ConsumerSpec, from: StartPosition) {
      assertSpec(spec);
      if (spec.delivery === 'broadcast') return; // no position to move
      generations.set(spec.name, (generations.get(spec.name) ?? 0) + 1);
      const start: Partial<ConsumerConfig> = 'sequence' in from
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, from.sequence) }
        : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: from.time.toISOString() };
      // Running owners see their consumer deleted and re-attach to the new one; one of them may
      // recreate it in between (with the wrong start), so recreate() deletes and tries again.
      await Promise.all(partitions.map((k) => recreate(spec, k, start, `${REWOUND} ${JSON.stringify(from)}`)));
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
      publisher.close();
      // Drain flushes the last acks; while disconnected there is nothing to flush into.
      if (health.up) await nc.drain().catch(() => nc.close());
      else await nc.close();
    },
  };
}
