import { headers, type MsgHdrs } from '@nats-io/transport-node';
import type { EventEnvelope } from './event.ts';

// Stateless for whole strings: one serves every message.
const decoder = new TextDecoder();

/**
 * How an envelope travels as a JetStream message. The body is the whole envelope as JSON: it is
 * the one source of truth, so a message read by any tool (`nats stream view`, a mirror, `read`)
 * is complete without its headers, and decoding is one parse. Two fields are copied into headers
 * for the machinery that reads headers only: `Nats-Msg-Id` (the event id: the server drops a
 * repeat within the duplicate window) and `traceparent` (W3C trace context, where tracing tools
 * look for it).
 */
export function encodeEnvelope(event: EventEnvelope): { data: Uint8Array; headers: MsgHdrs } {
  const h = headers();
  h.set('Nats-Msg-Id', event.id);
  if (event.context?.traceparent) h.set('traceparent', event.context.traceparent);
  // Buffer.from, not TextEncoder: a small Buffer is a slice of a shared pool, where TextEncoder
  // allocates an ArrayBuffer of its own for each message. For an 850-byte envelope on Node 24
  // that was 0.3 µs against 4.4 µs of CPU, and the relay encodes every event it publishes.
  return { data: Buffer.from(JSON.stringify(event)), headers: h };
}

export function decodeEnvelope(data: Uint8Array): EventEnvelope {
  const parsed = JSON.parse(decoder.decode(data)) as EventEnvelope;
  const { id, type, key, payload, occurredAt, context } = parsed;
  return context === undefined ? { id, type, key, payload, occurredAt } : { id, type, key, payload, occurredAt, context };
}
