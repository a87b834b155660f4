import { randomUUID } from 'node:crypto';
import { JetStreamApiCodes, JetStreamApiError, type Consumer, type ConsumerInfo, type ConsumerMessages, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { backoffDelay } from '../resilience/backoff.ts';
import type { Delivery } from './event.ts';
import { decodeEnvelope } from './jetstream-codec.ts';
import type { Settlement } from './transport.ts';
import { createWaker } from './wake.ts';

export interface PartitionPullerDeps {
  js: JetStreamClient;
  stream: string;
  durable: string;
  types: ReadonlySet<string>;
  handle: (delivery: Delivery) => Promise<Settlement>;
  /** Creates the durable if it is missing, keeping its position if it exists. */
  ensure: () => Promise<void>;
  ackWaitMs: number;
  /** How long one pull request waits on the server for an event. */
  pullExpiresMs: number;
  /** Resolves once the server has everything sent so far (plain acks). */
  flush: () => Promise<void>;
  /** Changes when this process rewinds the group: a delivery from before it is not settled. */
  generation: () => number;
  logger?: Logger;
}

// A durable found missing this many times in a row is created again (an admin deleted it);
// fewer, and a rewind is recreating it right now with its own start position.
const MISSING_BEFORE_RECREATE = 3;
// Messages one standing pull asks for. The durable hands out one at a time (max_ack_pending 1),
// so this only spares re-arming the pull after every event; it never buffers more than one.
const PULL_BATCH = 16;

/**
 * Pulls one partition of a group through a standing pull: one event at a time, handled, settled,
 * then the next. The durable has max_ack_pending 1, so the server hands a partition's next event
 * to no instance until this one is settled: per-key order holds whichever instance pulls.
 * The loop never ends on an error: a deleted durable (rewind), a restarting server or a closed
 * pull all lead back to re-attaching after a short backoff.
 */
export function startPartitionPuller(deps: PartitionPullerDeps): { stop(): Promise<void> } {
  const { js, stream, durable, logger } = deps;
  let running = true;
  let pull: ConsumerMessages | undefined;
  const stopping = createWaker();
  // Stream sequences this puller acknowledged lately, and which incarnation of the durable they
  // were acknowledged to (a rewind recreates it under the same name; see incarnationOf).
  const acked = createRecentSet(256);
  let incarnation = '';
  let consumer: Consumer | undefined;

  const loop = (async () => {
    let failures = 0;
    let missing = 0;
    let ensured = false;
    while (running) {
      try {
        if (!ensured) await deps.ensure();
        ensured = true;
        if (!consumer) {
          consumer = await js.consumers.get(stream, durable);
          attached(incarnationOf(await consumer.info(true)));
        }
        missing = 0;
        // A standing pull (the client re-arms it before it runs out): the server pushes the
        // partition's next event the moment the previous ack lands, with no request in between.
        // A deleted durable (rewind) ends it with an error, and the loop re-attaches.
        pull = await consumer.consume({ max_messages: PULL_BATCH, expires: deps.pullExpiresMs, abort_on_missing_resource: true });
        if (!running) pull.stop();
        for await (const msg of pull) {
          failures = 0;
          await deliver(msg);
        }
        failures = 0;
      } catch (error) {
        if (!running) break;
        consumer = undefined;
        failures++;
        if (isConsumerNotFound(error) && ++missing >= MISSING_BEFORE_RECREATE) ensured = false;
        const delayMs = backoffDelay(failures, 100, 2_000);
        logger?.debug({ err: error, durable, delayMs }, 'pull interrupted; re-attaching');
        await stopping.sleep(delayMs);
      } finally {
        pull = undefined;
      }
    }
  })();

  async function deliver(msg: JsMsg): Promise<void> {
    // Arrived while stopping: hand it back at once rather than leave it blocking the partition
    // for an ack wait (the server skips pull requests whose inbox is gone, but not one in flight).
    if (!running) return msg.nak();
    const event = decodeEnvelope(msg.data);
    const attempt = msg.info.deliveryCount;
    // Another type under the partition's wildcard filter: not this group's business.
    if (!deps.types.has(event.type)) return msg.ack();
    // A broker killed -9 forgets the acks (and deliveries) it had not written yet, and delivers
    // those events again, even as first deliveries; this puller remembers it settled them.
    // A rewound durable delivers them again on purpose: it is a new incarnation. Best effort:
    // the consumer layer's inbox is the guarantee.
    if (acked.has(msg.seq) && (await sameIncarnation())) return msg.ack();
    const generation = deps.generation();
    // Keeps the server from redelivering to another instance while a slow handler still works.
    const working = setInterval(() => msg.working(), deps.ackWaitMs / 2);
    let settlement: Settlement;
    try {
      settlement = await deps.handle({ event, sequence: msg.seq, attempt });
    } catch (error) {
      // Handlers return a settlement (the consumer layer catches); a throw is a bug: retry later.
      logger?.error({ err: error, durable, eventId: event.id }, 'event handler threw; retrying in 1 s');
      settlement = { kind: 'retry', delayMs: 1_000 };
    } finally {
      clearInterval(working);
    }
    // The group was rewound in this process meanwhile: the recreated durable has the same name
    // and would take this ack as settling its own, fresh delivery of the same event.
    if (deps.generation() !== generation) return;
    if (settlement.kind === 'ack') {
      acked.add(msg.seq);
      // Not confirmed while running: the partition cannot move on before the server has the ack
      // anyway (max_ack_pending 1), so waiting for its confirmation buys no order, only a round
      // trip. A lost ack (connection dropped) holds the partition for the ack wait, then the same
      // event comes again, first in line: `acked` or the consumer's inbox settles it unhandled.
      // Confirmed when stopping, so "stopped" means the server has it (lag, another instance).
      if (running) msg.ack();
      else await msg.ackAck().catch(() => undefined);
    } else {
      // The event stays pending (max_ack_pending 1), so the partition waits for it: order holds.
      msg.nak(Math.max(0, Math.round(settlement.delayMs)));
    }
  }

  function attached(current: string): void {
    if (current !== incarnation) acked.clear();
    incarnation = current;
  }

  // Asked only when a sequence comes back that this puller acked: rare, so one request is cheap.
  async function sameIncarnation(): Promise<boolean> {
    const info = await consumer!.info().catch(() => undefined);
    if (!info) return false;
    const same = incarnationOf(info) === incarnation;
    attached(incarnationOf(info));
    return same;
  }

  return {
    async stop() {
      running = false;
      pull?.stop();
      stopping.wake();
      await loop;
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

export function incarnationTag(what: string): string {
  return `scalemart group durable: ${what} at ${new Date().toISOString()} #${randomUUID().slice(0, 8)}`;
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
