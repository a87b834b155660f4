import type { Delivery, EventEnvelope } from './event.ts';

/** What a consumer's handler tells the transport about one delivery. */
export type Settlement = { kind: 'ack' } | { kind: 'retry'; delayMs: number };

/**
 * Handles first deliveries of one ordering partition together, in the order given: true once
 * every one of them has taken effect (the transport acks them all); false when none has (the
 * transport then hands them to the one-event handler, in order). A transport that delivers one
 * event at a time never calls it.
 */
export type BatchHandler = (deliveries: readonly Delivery[]) => Promise<boolean>;

/**
 * `group` (the default): a durable consumer group. Every subscriber with the same name, in any
 * process, shares one position, and each event is handled by one of them (a projection, an email).
 * `broadcast`: every subscriber receives every event published after it subscribed, and keeps no
 * durable position (dropping cache entries on every instance).
 */
export type DeliveryMode = 'group' | 'broadcast';

export interface ConsumerSpec {
  /** Durable name: the group's position survives restarts. Letters, digits, `.`, `-`, `_`. */
  name: string;
  /** Event types it receives; others pass it by. */
  types: readonly string[];
  /** Default `group`. */
  delivery?: DeliveryMode;
}

/** Where a rewound group starts again: at a log sequence, or at the first event appended at or after a time. */
export type StartPosition = { sequence: number } | { time: Date };

export interface Subscription {
  /** Stops after the delivery in progress is settled. */
  stop(): Promise<void>;
}

export interface TransportHealth {
  /** False while the log cannot be reached (publishes fail; the outbox keeps the events). */
  up: boolean;
  detail?: string;
}

/**
 * The event log port: the monolith's adapter keeps it in a table; the scaled stage's in a NATS
 * JetStream stream. Every adapter passes test/contracts/event-transport.contract.ts.
 */
export interface EventTransport {
  /** Durable once resolved; an event whose id is already in the log is dropped (dedup). */
  publish(events: readonly EventEnvelope[]): Promise<void>;
  /**
   * Delivers matching events to the subscriber: in log order per key, one at a time per key;
   * `retry` redelivers the same event after the delay, `ack` moves on. A group's events are
   * handled once per group across all its subscribers (at least once: redelivery after a crash).
   * `handleBatch`, when given, may take a group's consecutive first deliveries together.
   */
  consume(spec: ConsumerSpec, handle: (delivery: Delivery) => Promise<Settlement>, handleBatch?: BatchHandler): Subscription;
  /** Moves a group back (or forward) so it receives again from `from` on. */
  rewind(spec: ConsumerSpec, from: StartPosition): Promise<void>;
  /** Matching events in the log the group has not settled yet. */
  lag(spec: ConsumerSpec): Promise<number>;
  /** The log from a position, for rebuilding read models. */
  read(fromSequence: number, limit: number): Promise<Delivery[]>;
  health(): TransportHealth;
  /** Stops every subscription and lets go of the connection (not the database the table log lives in). */
  close(): Promise<void>;
}
