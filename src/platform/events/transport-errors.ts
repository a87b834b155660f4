import { CodedError } from '../errors/coded-error.ts';

/** Stable codes of the event transports' errors; callers branch on `code`, never on the message. */
export type EventTransportErrorCode =
  /** A transport's options are out of range (partitions, retention, names). */
  | 'EVENTS_INVALID_OPTIONS'
  /** An event type is not `<module>.<entity>.<verb>` with subject-safe tokens. */
  | 'EVENTS_INVALID_TYPE'
  /** The log cannot be reached right now; the outbox keeps the events and the relay retries. */
  | 'EVENTS_UNAVAILABLE'
  /** The transport was closed. */
  | 'EVENTS_CLOSED';

export class EventTransportError extends CodedError<EventTransportErrorCode> {
  override name = 'EventTransportError';
}
