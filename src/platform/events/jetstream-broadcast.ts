import type { ConsumerMessages, JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { backoffDelay } from '../resilience/backoff.ts';
import type { Delivery } from './event.ts';
import { decodeEnvelope } from './jetstream-codec.ts';
import type { Settlement } from './transport.ts';
import { createWaker } from './wake.ts';

export interface BroadcastDeps {
  js: JetStreamClient;
  stream: string;
  filter: string;
  types: ReadonlySet<string>;
  /** Deliver events after this stream sequence. */
  after: number;
  handle: (delivery: Delivery) => Promise<Settlement>;
  /** Every delivered sequence is reported, so later subscriptions start from a fresh floor. */
  seen: (sequence: number) => void;
  /** Calls the listener on every reconnect of the connection; returns what unsubscribes it. */
  onReconnect?: (listener: () => void) => () => void;
  logger?: Logger;
}

/**
 * A broadcast subscription: the client's ordered consumer (ephemeral, in memory on the server,
 * no acks, recreated by the client from its last sequence after a gap or a server restart) over
 * every partition. It keeps no durable state: stop() deletes it, and the server drops it by
 * itself after `inactive_threshold` if this process dies. A `retry` is redone here, in process,
 * after the delay: there is no one else to hand the event to, and later events wait behind it.
 */
export function startBroadcast(deps: BroadcastDeps): { stop(): Promise<void> } {
  const { js, logger } = deps;
  let running = true;
  let messages: ConsumerMessages | undefined;
  let cleanup: (() => Promise<unknown>) | undefined;
  const stopping = createWaker();
  // A restarted server has forgotten the consumer: end it and resume from `after` (jetstream-transport.ts says why).
  const offReconnect = deps.onReconnect?.(() => messages?.stop());

  const loop = (async () => {
    let failures = 0;
    let after = deps.after;
    while (running) {
      try {
        const consumer = await js.consumers.get(deps.stream, {
          filter_subjects: deps.filter,
          opt_start_seq: after + 1,
          inactive_threshold: 60_000,
        });
        cleanup = () => consumer.delete();
        messages = await consumer.consume({ max_messages: 256 });
        if (!running) messages.stop();
        failures = 0;
        for await (const msg of messages) {
          after = msg.seq;
          deps.seen(msg.seq);
          const event = decodeEnvelope(msg.data);
          if (!deps.types.has(event.type)) continue;
          for (let attempt = 1; running; attempt++) {
            const settlement = await deps.handle({ event, sequence: msg.seq, attempt }).catch((error: unknown): Settlement => {
              logger?.error({ err: error, eventId: event.id }, 'broadcast handler threw; retrying in 1 s');
              return { kind: 'retry', delayMs: 1_000 };
            });
            if (settlement.kind === 'ack') break;
            await stopping.sleep(settlement.delayMs);
          }
        }
        // Ended by a reconnect: the next consumer starts after `after`; this one goes, unawaited
        // (the server may not answer yet, and it drops the consumer by itself anyway).
        if (running) {
          void cleanup?.().catch(() => undefined);
          cleanup = undefined;
        }
      } catch (error) {
        if (!running) break;
        await cleanup?.().catch(() => undefined);
        // Creating the consumer failed (server down or restarting): try again from where we were.
        failures++;
        const delayMs = backoffDelay(failures, 100, 2_000);
        logger?.debug({ err: error, delayMs }, 'broadcast consumer interrupted; resuming');
        await stopping.sleep(delayMs);
      }
    }
  })();

  return {
    async stop() {
      running = false;
      offReconnect?.();
      messages?.stop();
      stopping.wake();
      await loop;
      await cleanup?.().catch(() => undefined);
    },
  };
}
