/** Where an event came from, carried beside it so logs and traces can be joined across the log. */
export interface EventContext {
  /** The request that caused the change (`X-Request-Id`). */
  requestId?: string;
  /** W3C trace context of the causing span. */
  traceparent?: string;
}

/** An integration event as it travels: immutable, identified, ordered per key. */
export interface EventEnvelope<P = unknown> {
  /** Unique id (UUIDv7); transports deduplicate on it. */
  id: string;
  /** `<module>.<entity>.<verb>`, e.g. `orders.order.confirmed`. */
  type: string;
  /** Ordering key (the aggregate id): events with one key are delivered in order. */
  key: string;
  payload: P;
  occurredAt: string;
  context?: EventContext;
}

/** An event as the log hands it to a consumer. */
export interface Delivery<P = unknown> {
  event: EventEnvelope<P>;
  /** Position in the log; replay starts from one. */
  sequence: number;
  /** 1 on first delivery, rising with each redelivery. */
  attempt: number;
}

export type NewEvent<P = unknown> = Omit<EventEnvelope<P>, 'id' | 'occurredAt'> & Partial<Pick<EventEnvelope<P>, 'id' | 'occurredAt'>>;
