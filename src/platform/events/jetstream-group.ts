import { randomUUID } from 'node:crypto';
import { JetStreamApiCodes, JetStreamApiError, type Consumer, type ConsumerInfo, type ConsumerMessages, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { backoffDelay } from '../resilience/backoff.ts';
import type { Delivery } from './event.ts';
import { decodeEnvelope } from './jetstream-codec.ts';
import type { BatchHandler, Settlement } from './transport.ts';
import { createWaker } from './wake.ts';

export interface PartitionOwnerDeps {
  js: JetStreamClient;
  stream: string;
  durable: string;
  types: ReadonlySet<string>;
  handle: (delivery: Delivery) => Promise<Settlement>;
  /** Handles a run of first deliveries together; false: none of it took effect, go one at a time. */
  handleBatch?: BatchHandler;
  /**
   * Readies the durable before a pull: creates it if missing (when `create`; else a missing one
   * throws), and restarts it after its ack floor if events were left delivered but unsettled, by a
   * previous owner or an earlier pull (they would come back only after the ack wait, behind later
   * ones). Resolves to the durable as the pull will find it.
   */
  takeOver: (create: boolean) => Promise<ConsumerInfo>;
  /** Events handled together at most; the durable lets twice this many be outstanding. */
  batch: number;
  ackWaitMs: number;
  /** How long one pull request waits on the server for an event. */
  pullExpiresMs: number;
  /** Resolves once the server has everything sent so far (plain acks). */
  flush: () => Promise<void>;
  /** Changes when this process rewinds the group: a delivery from before it is not settled. */
  generation: () => number;
  /** Whether this owner's lease on the partition still holds. */
  valid: () => boolean;
  /** Calls the listener on every reconnect of the connection; returns what unsubscribes it. */
  onReconnect?: (listener: () => void) => () => void;
  logger?: Logger;
}

// A durable found missing this many times in a row is created again (an admin deleted it);
// fewer, and a rewind is recreating it right now with its own start position.
const MISSING_BEFORE_RECREATE = 3;

/**
 * Works one partition of a group while this member holds its lease (jetstream-leases.ts): the
 * only puller of the partition's durable (ack policy `all`), it takes what has arrived in batches,
 * in log order, handles them (together, when the consumer can, and one by one otherwise, each
 * retried here after its delay until it settles), and acks the batch's last event, which settles
 * the whole batch. A retried event holds back the events behind it in its partition, and only for
 * its delay: order per key holds.
 *
 * The loop never ends on an error while the lease holds: a deleted durable (rewind), a restarting
 * server or a closed pull all lead back to re-attaching after a short backoff.
 */
export function startPartitionOwner(deps: PartitionOwnerDeps): { stop(): Promise<void> } {
  const { js, stream, durable, logger } = deps;
  let running = true;
  let pull: ConsumerMessages | undefined;
  const stopping = createWaker();
  // Stream sequences this owner acknowledged lately, and which incarnation of the durable they
  // were acknowledged to (a rewind or a takeover recreates it under the same name).
  const acked = createRecentSet(4 * deps.batch);
  let incarnation = '';
  let consumer: Consumer | undefined;
  // Delivered and not yet acked: kept from the server's ack wait while they wait or are handled.
  let held: JsMsg[] = [];
  // The last ack sent while stopping, confirmed by the server.
  let confirming: Promise<unknown> = Promise.resolve();
  const keepAlive = setInterval(() => {
    for (const msg of held) msg.working();
  }, Math.max(250, deps.ackWaitMs / 3));
  // A restarted server has forgotten the pull: end it and attach afresh (jetstream-transport.ts says why).
  const offReconnect = deps.onReconnect?.(() => pull?.stop());

  const loop = (async () => {
    let failures = 0;
    let missing = 0;
    let create = true;
    while (running) {
      // The lease is being renewed late: hold still (the assignment stops this owner if it is lost).
      if (!deps.valid()) {
        await stopping.sleep(100);
        continue;
      }
      try {
        // On every attach, not only the first: events left delivered and unsettled by an earlier
        // pull (a dropped connection, a restarted server) would come back only after the ack
        // wait, behind later ones.
        const ready = await deps.takeOver(create);
        create = false;
        consumer = await js.consumers.get(stream, durable);
        attached(ready);
        missing = 0;
        // A standing pull: the client asks again before it runs out, and the server sends the
        // partition's events as they come, up to the durable's max_ack_pending.
        pull = await consumer.consume({ max_messages: deps.batch, expires: deps.pullExpiresMs, abort_on_missing_resource: true });
        if (!running) pull.stop();
        await drain(pull);
        failures = 0;
      } catch (error) {
        if (!running) break;
        failures++;
        if (isConsumerNotFound(error) && ++missing >= MISSING_BEFORE_RECREATE) create = true;
        const delayMs = backoffDelay(failures, 100, 2_000);
        logger?.debug({ err: error, durable, delayMs }, 'pull interrupted; re-attaching');
        await stopping.sleep(delayMs);
      } finally {
        pull = undefined;
        held = [];
      }
    }
  })();

  /** Takes what the pull has delivered, a batch at a time, until the pull ends or the owner stops. */
  async function drain(messages: ConsumerMessages): Promise<void> {
    let arrived: (() => void) | undefined;
    let ended = false;
    let failure: unknown;
    const pump = (async () => {
      try {
        for await (const msg of messages) {
          held.push(msg);
          arrived?.();
        }
      } catch (error) {
        failure = error;
      } finally {
        ended = true;
        arrived?.();
      }
    })();
    let done = 0;
    while (running && deps.valid() && !failure) {
      if (held.length === done) {
        if (ended) break;
        await new Promise<void>((resolve) => (arrived = resolve));
        arrived = undefined;
        continue;
      }
      const batch = held.slice(done, done + deps.batch);
      const settled = await settle(batch);
      done += settled;
      if (settled < batch.length) break;
      // Let go of what is settled (the array grows while a batch is handled).
      held = held.slice(done);
      done = 0;
    }
    messages.stop();
    await pump;
    if (failure && running) throw failure;
  }

  /**
   * Handles one batch in order and acks its last settled event. Returns how many of the batch are
   * settled: fewer than all only when the owner stops (or loses its lease) while an event waits
   * for a retry.
   */
  async function settle(batch: JsMsg[]): Promise<number> {
    const generation = deps.generation();
    const work: { index: number; delivery: Delivery }[] = [];
    for (const [index, msg] of batch.entries()) {
      const event = decodeEnvelope(msg.data);
      // Another type under the partition's wildcard filter: not this group's business.
      if (!deps.types.has(event.type)) continue;
      // A broker killed -9 forgets the acks it had not written yet, and delivers those events
      // again, even as first deliveries (or, after a takeover, the recreated durable does); this
      // owner remembers it settled them. A rewound durable delivers them again on purpose. Best
      // effort: the consumer layer's inbox is the guarantee.
      if (acked.has(msg.seq) && (await stillSettled())) continue;
      work.push({ index, delivery: { event, sequence: msg.seq, attempt: msg.info.deliveryCount } });
    }
    let settled = batch.length;
    const together = deps.handleBatch !== undefined && work.length > 1 && work.every((w) => w.delivery.attempt === 1)
      && (await deps.handleBatch(work.map((w) => w.delivery)).catch(() => false));
    if (!together) {
      for (const w of work) {
        // Stopping (the partition is being handed over): the rest of the batch is the next owner's.
        if (!running || !(await handleUntilSettled(w.delivery))) {
          settled = w.index;
          break;
        }
        // One at a time, each is acked as it settles: an owner killed mid-batch leaves only the
        // event in hand to be handled again (side effects such as an email repeat at most once).
        if (w.index < batch.length - 1 && !ack(batch, w.index + 1, generation)) return w.index + 1;
      }
    }
    if (settled > 0) ack(batch, settled, generation);
    return settled;
  }

  /** Acks the batch's first `count` events (ack policy `all`: the last of them settles the rest). False: not acked, the group was rewound. */
  function ack(batch: JsMsg[], count: number, generation: number): boolean {
    // The group was rewound in this process meanwhile: the recreated durable has the same name
    // and would take this ack as settling its own, fresh deliveries of the same events.
    if (deps.generation() !== generation) return false;
    for (const msg of batch.slice(0, count)) acked.add(msg.seq);
    const last = batch[count - 1]!;
    // Not confirmed while running: the next batch can go ahead (a lost ack means the events come
    // again, and `acked` or the inbox settles them). Confirmed when stopping, so "stopped" means
    // the server has it (lag, the next owner's ack floor).
    if (running) last.ack();
    else confirming = last.ackAck().catch(() => undefined);
    return true;
  }

  /** Handles one event until it is settled, waiting out each retry's delay. False: stopped first. */
  async function handleUntilSettled(delivery: Delivery): Promise<boolean> {
    for (let attempt = delivery.attempt; ; attempt++) {
      let settlement: Settlement;
      try {
        settlement = await deps.handle({ ...delivery, attempt });
      } catch (error) {
        // Handlers return a settlement (the consumer layer catches); a throw is a bug: retry later.
        logger?.error({ err: error, durable, eventId: delivery.event.id }, 'event handler threw; retrying in 1 s');
        settlement = { kind: 'retry', delayMs: 1_000 };
      }
      if (settlement.kind === 'ack') return true;
      if (!running || !deps.valid()) return false;
      await stopping.sleep(Math.max(0, Math.round(settlement.delayMs)));
      if (!running || !deps.valid()) return false;
    }
  }

  /**
   * Notes which creation of the durable this owner pulls from. One rewound since delivers settled
   * events again on purpose, so they are forgotten; one recreated to take over (after a crashed
   * owner, or this owner's own reconnect) delivers again only events whose ack was lost.
   */
  function attached(info: ConsumerInfo): boolean {
    const rewound = incarnationOf(info) !== incarnation && isRewound(info);
    if (rewound) acked.clear();
    incarnation = incarnationOf(info);
    return rewound;
  }

  // Asked only when a sequence comes back that this owner acked: rare, so one request is cheap.
  async function stillSettled(): Promise<boolean> {
    const info = await consumer?.info().catch(() => undefined);
    return info !== undefined && !attached(info);
  }

  return {
    async stop() {
      running = false;
      offReconnect?.();
      pull?.stop();
      stopping.wake();
      await loop;
      clearInterval(keepAlive);
      await confirming;
      // The last plain ack may still sit in the client's buffer: the server has it once this returns.
      await deps.flush().catch(() => undefined);
    },
  };
}

/**
 * Which creation of a durable this is. Every creation writes a fresh tag into `description`
 * (persisted exactly, and 2.9 has no metadata); `created` is no help: a 2.9 server restarted on
 * its store reports a creation time a little off the one it first answered.
 */
export function incarnationOf(info: ConsumerInfo): string {
  return info.config.description ?? '';
}

const TAG = 'scalemart group durable: ';

export function incarnationTag(what: string): string {
  return `${TAG}${what} at ${new Date().toISOString()} #${randomUUID().slice(0, 8)}`;
}

/** How a rewind's `what` begins, in the tags of the durables it recreates. */
export const REWOUND = 'rewound to';

/** Whether the durable's last creation was a rewind's. */
export function isRewound(info: ConsumerInfo): boolean {
  return incarnationOf(info).startsWith(`${TAG}${REWOUND} `);
}

export function isConsumerNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound;
}

/** A bounded set of recent numbers: the oldest is forgotten first. */
export interface RecentSet {
  add(n: number): void;
  has(n: number): boolean;
  clear(): void;
}

export function createRecentSet(capacity: number): RecentSet {
  const items = new Set<number>();
  return {
    add(n) {
      items.add(n);
      if (items.size > capacity) items.delete(items.values().next().value!);
    },
    has: (n) => items.has(n),
    clear: () => items.clear(),
  };
}
