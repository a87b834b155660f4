import { randomUUID } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import { createWaker } from './wake.ts';

/** One partition's work while this member holds its lease; stopped when the lease goes. */
export interface PartitionOwner {
  /** Finishes the batch in hand (its commit and ack), then lets go of the partition. */
  stop(): Promise<void>;
}

export interface PartitionAssignmentDeps {
  /** The leases bucket: its TTL (max_age) is the lease term; a key not renewed within it vanishes. */
  kv: KV;
  /** The bucket's TTL in ms, as the server applies it. */
  ttlMs: number;
  /** Every key in the bucket, as listed at most a moment ago (see sharedKeyListing). */
  keys: () => Promise<readonly string[]>;
  /** The group's key token (no wildcards): keys are `<group>.m.<member>` and `<group>.p.<k>`. */
  group: string;
  partitions: number;
  /** Starts working partition k; `valid()` says whether this member's lease on it still holds. */
  start(partition: number, valid: () => boolean): PartitionOwner;
  logger?: Logger;
}

export interface PartitionAssignment {
  /** Partitions this member holds now. */
  owned(): number[];
  /** Stops every owner, then gives their leases and the membership back at once. */
  stop(): Promise<void>;
}

interface Held {
  revision: number;
  /** Local time until which the lease surely holds: the last renewal's send time plus the term, less a margin. */
  validUntil: number;
  owner: PartitionOwner;
}

// The first claim waits this long after joining, so members that start together see each other
// and split the partitions at once rather than one taking all and handing most back a tick later.
const JOIN_MS = 300;

/**
 * Spreads a group's partitions over its members (every subscription of the group, in any process)
 * with leases in a NATS KV bucket, so each partition has at most one owner pulling it at a time:
 * what lets an owner take a partition's events in batches and keep per-key order.
 *
 * - A member renews its membership key and each partition key it holds every third of the term,
 *   with compare-and-set on the key's revision; a failed renewal loses that partition at once.
 *   A member that stops renewing (killed, cut off) loses its keys when the server ages them out.
 * - Each member aims at ⌈partitions / members⌉: above it, it hands partitions back (after their
 *   owners finish their batch); below it, it creates the keys of free partitions (create fails if
 *   another member holds the key).
 * - An owner is told its lease is valid only until its last renewal's send time plus the term,
 *   less a margin, on its own clock: the server cannot have aged the key out before then. A paused
 *   owner can still finish a batch after that; what keeps that harmless is the consumer's inbox and
 *   the new owner's restart from the durable's ack floor (see jetstream-group.ts).
 */
export function startPartitionAssignment(deps: PartitionAssignmentDeps): PartitionAssignment {
  const { kv, ttlMs, group, partitions, logger } = deps;
  const member = randomUUID().slice(0, 12);
  const memberKey = `${group}.m.${member}`;
  const partitionKey = (k: number) => `${group}.p.${k}`;
  const tickMs = Math.max(100, Math.floor(ttlMs / 3));
  // Renewal round trips and timer lateness come out of this; an owner stops this early.
  const marginMs = Math.min(1_000, Math.floor(ttlMs / 4));
  const held = new Map<number, Held>();
  const stopping = createWaker();
  let running = true;

  const validFor = (k: number) => () => {
    const h = held.get(k);
    return running && h !== undefined && Date.now() < h.validUntil;
  };

  function acquired(k: number, revision: number, sentAt: number): void {
    const entry: Held = { revision, validUntil: sentAt + ttlMs - marginMs, owner: { stop: async () => undefined } };
    held.set(k, entry);
    entry.owner = deps.start(k, validFor(k));
  }

  /** Forgets the lease (renewal failed or ran out): the owner stops; the key is not ours to delete. */
  function lose(k: number, why: string): void {
    const h = held.get(k);
    if (!h) return;
    held.delete(k);
    logger?.info({ group, partition: k, why }, 'partition lease lost');
    void h.owner.stop();
  }

  /** Hands the partition back: its owner finishes its batch, then the key goes (if still ours). */
  async function release(k: number): Promise<void> {
    const h = held.get(k);
    if (!h) return;
    held.delete(k);
    await h.owner.stop();
    await kv.delete(partitionKey(k), { previousSeq: h.revision }).catch(() => undefined);
  }

  async function renew(): Promise<void> {
    const sentAt = Date.now();
    for (const [k, h] of held) if (sentAt >= h.validUntil) lose(k, 'not renewed within its term');
    await Promise.all([
      kv.put(memberKey, ''),
      ...[...held].map(async ([k, h]) => {
        try {
          h.revision = await kv.update(partitionKey(k), member, h.revision);
          h.validUntil = sentAt + ttlMs - marginMs;
        } catch (error) {
          lose(k, (error as Error).message);
        }
      }),
    ]);
  }

  async function balance(): Promise<void> {
    const members = new Set<string>();
    const taken = new Set<number>();
    for (const key of await deps.keys()) {
      if (!key.startsWith(`${group}.`)) continue;
      const [, kind, id] = key.slice(group.length).split('.');
      if (kind === 'm') members.add(id!);
      else if (kind === 'p') taken.add(Number(id));
    }
    members.add(member);
    const target = Math.ceil(partitions / members.size);
    if (held.size > target) {
      // The highest numbers go back: members then tend to keep the same partitions over time.
      const extra = [...held.keys()].sort((a, b) => b - a).slice(0, held.size - target);
      await Promise.all(extra.map(release));
      return;
    }
    const free = shuffle(Array.from({ length: partitions }, (_, k) => k).filter((k) => !taken.has(k) && !held.has(k)));
    for (const k of free) {
      if (!running || held.size >= target) break;
      const sentAt = Date.now();
      try {
        acquired(k, await kv.create(partitionKey(k), member), sentAt);
      } catch {
        // Another member created it first.
      }
    }
  }

  const loop = (async () => {
    let first = true;
    while (running) {
      try {
        await renew();
        if (first) await stopping.sleep(JOIN_MS);
        first = false;
        if (running) await balance();
      } catch (error) {
        // The broker is unreachable: renewals fail and leases lapse; owners stop on their own clocks.
        logger?.debug({ err: error, group }, 'partition assignment tick failed');
      }
      await stopping.sleep(tickMs);
    }
  })();

  return {
    owned: () => [...held.keys()].sort((a, b) => a - b),
    async stop() {
      running = false;
      stopping.wake();
      await loop;
      await Promise.all([...held.keys()].map(release));
      await kv.delete(memberKey).catch(() => undefined);
    },
  };
}

/**
 * Lists the bucket's keys for every group of a process at once: a listing is a short-lived
 * consumer on the server (create, read, delete), the largest part of what leases cost an idle
 * process, and its groups tick together. A listing younger than `maxAgeMs` is reused.
 */
export function sharedKeyListing(kv: KV, maxAgeMs: number): () => Promise<readonly string[]> {
  let last: { at: number; keys: Promise<readonly string[]> } | undefined;
  return () => {
    const now = Date.now();
    if (!last || now - last.at > maxAgeMs) {
      const keys = (async () => {
        const out: string[] = [];
        for await (const key of await kv.keys()) out.push(key);
        return out;
      })();
      // A failed listing is not kept: the next tick asks again.
      keys.catch(() => (last = undefined));
      last = { at: now, keys };
    }
    return last.keys;
  };
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
