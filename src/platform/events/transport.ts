import type { Delivery, EventEnvelope } from './event.ts';

/** What a consumer's handler tells the transport about one delivery. */
export type Settlement = { kind: 'ack' } | { kind: 'retry'; delayMs: number };

export interface ConsumerSpec {
  /** Durable name: the consumer's position survives restarts. */
  name: string;
  /** Event types it receives; others pass it by. */
  types: readonly string[];
}

export interface Subscription {
  /** Stops after the delivery in progress is settled. */
  stop(): Promise<void>;
}

/**
 * The event log port: the in-process adapter keeps it in a table; a JetStream adapter keeps it in
 * a stream. Every adapter passes test/contracts/event-transport.contract.ts.
 */
export interface EventTransport {
  /** Durable once resolved; an event whose id is already in the log is dropped (dedup). */
  publish(events: readonly EventEnvelope[]): Promise<void>;
  /**
   * Delivers every matching event once per durable consumer, in log order, one at a time;
   * `retry` redelivers the same event after the delay, `ack` moves on.
   */
  consume(spec: ConsumerSpec, handle: (delivery: Delivery) => Promise<Settlement>): Subscription;
  /** Moves a consumer back so it receives again from `fromSequence` on. */
  rewind(consumer: string, fromSequence: number): Promise<void>;
  /** Matching events in the log the consumer has not settled yet. */
  lag(spec: ConsumerSpec): Promise<number>;
  /** The log from a position, for rebuilding read models. */
  read(fromSequence: number, limit: number): Promise<Delivery[]>;
}
