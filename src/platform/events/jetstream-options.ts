import type { Logger } from 'pino';
import { assertSubjectPrefix } from './jetstream-layout.ts';
import { EventTransportError } from './transport-errors.ts';

/** How the JetStream transport reaches and lays out its stream. Every field is optional. */
export interface JetStreamTransportOptions {
  /** NATS server URL(s). Default `nats://127.0.0.1:4222`. */
  servers?: string | string[];
  /** Stream name. Default `SCALEMART_EVENTS`. */
  stream?: string;
  /** First subject token(s); the stream takes `<prefix>.>`. Default `scalemart`. */
  subjectPrefix?: string;
  /**
   * Partitions per event type: how many owners a group's work can spread over (order holds per
   * key). Default 16: each is a durable of its own, and more durables cost the server more per
   * delivery (the event-path lab measured 91 µs of CPU per consumed event at 64, 59 at 16). The
   * cost is the durables', not their sharing a stream: a raw loop over 16 partitions cost
   * nats-server 1.10–1.11× a single durable's CPU per event with a durable per partition on one
   * stream, and 1.12–1.34× with a stream per partition (lab `event-path`, CPU by stage). Changing
   * it remaps keys: only on an empty stream, or once every group has drained (see partitionOf).
   */
  partitions?: number;
  /** Retention: events older than this are dropped. Default 7 days. */
  maxAgeSeconds?: number;
  /** The server drops a repeated event id within this window. Default 2 min. */
  duplicateWindowMs?: number;
  /** A delivery not settled within this is redelivered (handlers signal progress meanwhile). Default 30 s. */
  ackWaitMs?: number;
  /** Events a partition's owner takes and settles together at most. Default 256. */
  batch?: number;
  /**
   * The term of a partition's lease (the leases bucket's TTL, fixed when the bucket is first
   * made): a member that stops renewing loses its partitions this long after its last renewal.
   * Default 6 s.
   */
  leaseTtlMs?: number;
  logger?: Logger;
}

export type ResolvedJetStreamOptions = Readonly<Required<Omit<JetStreamTransportOptions, 'logger'>>> & { logger?: Logger };

export const defaultJetStreamOptions = Object.freeze({
  servers: 'nats://127.0.0.1:4222',
  stream: 'SCALEMART_EVENTS',
  subjectPrefix: 'scalemart',
  partitions: 16,
  maxAgeSeconds: 7 * 24 * 3600,
  duplicateWindowMs: 2 * 60_000,
  ackWaitMs: 30_000,
  batch: 256,
  leaseTtlMs: 6_000,
});

/** Validated and frozen once, at construction. */
export function resolveJetStreamOptions(options: JetStreamTransportOptions): ResolvedJetStreamOptions {
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const o = { ...defaultJetStreamOptions, ...defined } as ResolvedJetStreamOptions;
  const fail = (message: string) => {
    throw new EventTransportError('EVENTS_INVALID_OPTIONS', `JetStream transport: ${message}`);
  };
  if (!/^[A-Za-z0-9_-]+$/.test(o.stream)) fail(`stream "${o.stream}" must be letters, digits, "-", "_"`);
  assertSubjectPrefix(o.subjectPrefix);
  if (!(Number.isSafeInteger(o.partitions) && o.partitions >= 1 && o.partitions <= 1024)) fail(`partitions must be an integer in 1..1024, got ${o.partitions}`);
  if (!(Number.isSafeInteger(o.batch) && o.batch >= 1 && o.batch <= 10_000)) fail(`batch must be an integer in 1..10000, got ${o.batch}`);
  for (const key of ['maxAgeSeconds', 'duplicateWindowMs', 'ackWaitMs', 'leaseTtlMs'] as const) {
    if (!(Number.isFinite(o[key]) && o[key] > 0)) fail(`${key} must be a positive number, got ${o[key]}`);
  }
  // The server refuses a duplicate window longer than the retention.
  if (o.duplicateWindowMs > o.maxAgeSeconds * 1000) fail('duplicateWindowMs must not exceed maxAgeSeconds');
  if (o.ackWaitMs < 1_000) fail('ackWaitMs must be at least 1000 ms');
  if (o.leaseTtlMs < 1_000) fail('leaseTtlMs must be at least 1000 ms');
  return Object.freeze(o);
}
