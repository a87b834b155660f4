import { EventTransportError } from './transport-errors.ts';

/**
 * Where events live in the JetStream stream: `<prefix>.<module>.<entity>.<verb>.<partition>`,
 * e.g. `scalemart.orders.order.confirmed.3`. The partition token lets a group consume each
 * partition through its own consumer, which is what keeps per-key order with many instances.
 */

// A subject token: no `.`, no wildcards, no whitespace (the server would split or match on them).
const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Throws unless `type` is `<module>.<entity>.<verb>` with subject-safe tokens. */
export function assertEventType(type: string): void {
  const tokens = type.split('.');
  if (tokens.length !== 3 || !tokens.every((t) => TOKEN.test(t))) {
    throw new EventTransportError('EVENTS_INVALID_TYPE', `event type "${type}" is not <module>.<entity>.<verb> (letters, digits, "-", "_")`);
  }
}

/** Throws unless `prefix` is one or more subject-safe tokens. */
export function assertSubjectPrefix(prefix: string): void {
  if (!prefix.split('.').every((t) => TOKEN.test(t))) {
    throw new EventTransportError('EVENTS_INVALID_OPTIONS', `subject prefix "${prefix}" must be dot-separated tokens of letters, digits, "-", "_"`);
  }
}

/**
 * The partition of an ordering key: 32-bit FNV-1a over the key's UTF-8 bytes, modulo the
 * partition count. FNV-1a is stable across processes, languages and releases (no seed), and
 * spreads short ids well; changing `partitions` remaps keys, so only change it on an empty stream
 * or after every group has drained.
 */
export function partitionOf(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}

export function subjectOf(prefix: string, type: string, partition: number): string {
  return `${prefix}.${type}.${partition}`;
}

/**
 * The narrowest single subject filter that covers every type of a consumer (2.9 takes one
 * filter per consumer): the type itself, else `<module>.<entity>.*`, else `<module>.*.*`, else
 * `*.*.*`. Events of other types under a wide filter are acknowledged without the handler.
 * `partition` is a number for a group's per-partition consumer, `*` for all partitions.
 */
export function filterOf(prefix: string, types: readonly string[], partition: number | '*'): string {
  if (types.length === 0) throw new EventTransportError('EVENTS_INVALID_TYPE', 'a consumer needs at least one event type');
  types.forEach(assertEventType);
  const split = types.map((t) => t.split('.'));
  const same = (i: number) => split.every((s) => s[i] === split[0]![i]);
  const [module, entity, verb] = split[0]!;
  const head = !same(0) ? '*.*.*' : !same(1) ? `${module}.*.*` : !same(2) ? `${module}.${entity}.*` : `${module}.${entity}.${verb}`;
  return `${prefix}.${head}.${partition}`;
}

/**
 * A group's name as one token of a durable name or a lease key. Durable names cannot hold `.`, so
 * `.` becomes `_`; to keep the mapping one-to-one, a literal `_` is written `-_` and a literal `-`
 * is written `--` (no other output starts with `-`): `notifications.email` → `notifications_email`.
 */
export function groupToken(group: string): string {
  return group.replace(/[-_.]/g, (c) => (c === '.' ? '_' : c === '_' ? '-_' : '--'));
}

/**
 * A group's durable for one partition: `notifications.email` → `notifications_email_b3`. The
 * suffix cannot be confused with the name, since it is always the last `_b<digits>`. `b` marks the
 * batched layout (ack policy `all`, one owner at a time); `_p<k>` was the one-at-a-time layout
 * before it (see legacyDurableOf).
 */
export function durableOf(group: string, partition: number): string {
  return `${groupToken(group)}_b${partition}`;
}

/** The durable of the earlier layout (ack policy `explicit`, max_ack_pending 1): moved on from at start. */
export function legacyDurableOf(group: string, partition: number): string {
  return `${groupToken(group)}_p${partition}`;
}
