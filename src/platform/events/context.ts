import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import type { EventContext } from './event.ts';

/**
 * The context of the request a change is made in, for the events the change appends: the outbox
 * reads it, so a module appends events without passing request details through its services.
 * Like OpenTelemetry's context, it is carried by async_hooks; it holds nothing outside a `run`.
 */
const storage = new AsyncLocalStorage<EventContext>();

/** Runs `fn` (and every async continuation it starts) with `context` as the causing context. */
export function runWithEventContext<T>(context: EventContext, fn: () => T): T {
  return storage.run(context, fn);
}

export function currentEventContext(): EventContext | undefined {
  return storage.getStore();
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);

/**
 * A W3C `traceparent` for work caused by a request: the caller's trace continued with a new span
 * id when it sent a valid header, else a new trace (sampled). Until Scalemart records spans, this
 * only lets the logs of a request and of the events it caused be joined by trace id.
 */
export function childTraceparent(header: string | string[] | undefined): string {
  const match = typeof header === 'string' ? TRACEPARENT.exec(header) : null;
  const traceId = match && match[1] !== ZERO_TRACE ? match[1]! : randomBytes(16).toString('hex');
  return `00-${traceId}-${randomBytes(8).toString('hex')}-${match ? match[3] : '01'}`;
}
