import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { isConsumerNotFound } from './jetstream-group.ts';
import { durableOf, filterOf } from './jetstream-layout.ts';
import type { ResolvedJetStreamOptions } from './jetstream-options.ts';
import type { ConsumerSpec } from './transport.ts';

/**
 * Creates the stream, or brings an existing one to these settings (retention, dedup window,
 * subjects); idempotent, so every process runs it at start. Storage cannot change in place.
 */
export async function ensureStream(jsm: JetStreamManager, o: ResolvedJetStreamOptions): Promise<StreamInfo> {
  const wanted = {
    subjects: [`${o.subjectPrefix}.>`],
    max_age: nanos(o.maxAgeSeconds * 1000),
    duplicate_window: nanos(o.duplicateWindowMs),
  };
  let current: StreamInfo;
  try {
    current = await jsm.streams.info(o.stream);
  } catch (error) {
    if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
    try {
      return await jsm.streams.add({
        name: o.stream, ...wanted, storage: StorageType.File, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, num_replicas: 1,
      });
    } catch {
      // Another process created it meanwhile: fall through to the update path.
      current = await jsm.streams.info(o.stream);
    }
  }
  const c = current.config;
  const same = c.max_age === wanted.max_age && c.duplicate_window === wanted.duplicate_window && c.subjects?.length === 1 && c.subjects[0] === wanted.subjects[0];
  return same ? current : jsm.streams.update(o.stream, wanted);
}

/**
 * A group's lag: over its partitions, events not yet delivered plus delivered but unsettled
 * (num_pending + num_ack_pending, read from consumer info). A partition whose durable does not
 * exist yet (never subscribed) counts every stored event of the group's types. Events of other
 * types under a wide filter are counted too (they are acked unseen, so they drain quickly).
 */
export async function groupLag(jsm: JetStreamManager, o: ResolvedJetStreamOptions, spec: ConsumerSpec): Promise<number> {
  const parts = await Promise.all(Array.from({ length: o.partitions }, async (_, k) => {
    try {
      const info = await jsm.consumers.info(o.stream, durableOf(spec.name, k));
      return info.num_pending + info.num_ack_pending;
    } catch (error) {
      if (isConsumerNotFound(error)) return undefined;
      throw error;
    }
  }));
  let lag = parts.reduce<number>((sum, n) => sum + (n ?? 0), 0);
  if (parts.includes(undefined)) {
    const info = await jsm.streams.info(o.stream, { subjects_filter: filterOf(o.subjectPrefix, spec.types, '*') });
    const types = new Set(spec.types);
    for (const [subject, count] of Object.entries(info.state.subjects ?? {})) {
      const tokens = subject.slice(o.subjectPrefix.length + 1).split('.');
      if (types.has(tokens.slice(0, 3).join('.')) && parts[Number(tokens[3])] === undefined) lag += count;
    }
  }
  return lag;
}
