import { randomUUID } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import { createWaker } from './wake.ts';

/** One partition's work while this member holds it; stopped when the membership goes. */
export interface PartitionOwner {
  /** Finishes the batch in hand (its commit and ack), then lets go of the partition. */
  stop(): Promise<void>;
}

export interface PartitionAssignmentDeps {
  /** Memberships: the bucket's TTL (max_age) is the term; a key not renewed within it vanishes. */
  members: KV;
  /** Which member holds each partition (no TTL: a holder is alive while its membership is). */
  owners: KV;
  /** The members bucket's TTL in ms, as the server applies it. */
  ttlMs: number;
  /** Every key of the members bucket, as listed no earlier than `notBefore` (see sharedKeyListing). */
  listMembers: (notBefore: number) => Promise<readonly string[]>;
  /** The group's key token (no wildcards): keys are `<group>.<member>` and `<group>.<k>`. */
  group: string;
  partitions: number;
  /** Starts working partition k; `valid()` says whether this member's hold on it still stands. */
  start(partition: number, valid: () => boolean): PartitionOwner;
  logger?: Logger;
}

export interface PartitionAssignment {
  /** Stops every owner, then gives their partitions and the membership back at once. */
  stop(): Promise<void>;
}

interface Held {
  /** The owners bucket's revision of the partition's key, as this member last wrote it. */
  revision: number;
  owner: PartitionOwner;
}

// The first claim waits this long after joining, so members that start together see each other
// and split the partitions at once rather than one taking all and handing most back a tick later.
const JOIN_MS = 300;

/**
 * Spreads a group's partitions over its members (every subscription of the group, in any process)
 * with two NATS KV buckets, so each partition has at most one owner pulling it at a time: what
 * lets an owner take a partition's events in batches and keep per-key order.
 *
 * - **Membership** is a key in a bucket with a TTL, `<group>.<member>`, renewed every third of the
 *   term by compare-and-set on its revision. A member that stops renewing (killed, cut off) loses
 *   its key when the server ages it out; a member whose renewal fails has lost it, stops every
 *   owner and joins again under a new id.
 * - **Holding a partition** is a key `<group>.<k>` naming the member, in a bucket without a TTL:
 *   created for a free partition, taken over by compare-and-set from a member whose membership is
 *   gone, deleted when handed back. It needs no renewal of its own: a process renews one key per
 *   group, whatever it holds (the idle cost of leases is one KV update per group per tick).
 * - Each member aims at ⌈partitions / members⌉: above it, it hands partitions back (after their
 *   owners finish their batch); below it, it claims free ones and those of departed members.
 * - A member believes its hold valid only until its last membership renewal's send time plus the
 *   term, less a margin, on its own clock: the server cannot have aged the key out before then,
 *   and nobody takes a partition over before that key is gone. The holder's key is read before
 *   the membership list, so a member that joined is never taken for gone. A paused owner can
 *   still finish a batch late; what keeps that harmless is the consumer's inbox and the new
 *   owner's restart from the durable's ack floor (see jetstream-group.ts).
 */
export function startPartitionAssignment(deps: PartitionAssignmentDeps): PartitionAssignment {
  const { members, owners, ttlMs, group, partitions, logger } = deps;
  const partitionKey = (k: number) => `${group}.${k}`;
  const tickMs = Math.max(100, Math.floor(ttlMs / 3));
  // Renewal round trips and timer lateness come out of this; an owner stops this early.
  const marginMs = Math.min(1_000, Math.floor(ttlMs / 4));
  const held = new Map<number, Held>();
  const stopping = createWaker();
  let running = true;
  let member = '';
  let memberRevision = 0;
  let validUntil = 0;

  const validFor = (k: number) => () => running && held.has(k) && Date.now() < validUntil;

  function acquired(k: number, revision: number): void {
    const entry: Held = { revision, owner: { stop: async () => undefined } };
    held.set(k, entry);
    entry.owner = deps.start(k, validFor(k));
  }

  /** Forgets every partition (the membership is gone): owners stop; the keys are for others to take over. */
  function loseAll(why: string): void {
    if (held.size > 0) logger?.info({ group, partitions: [...held.keys()], why }, 'partitions lost with the membership');
    for (const h of held.values()) void h.owner.stop();
    held.clear();
    member = '';
  }

  /** Hands the partition back: its owner finishes its batch, then the key goes (if still ours). */
  async function release(k: number): Promise<void> {
    const h = held.get(k);
    if (!h) return;
    held.delete(k);
    await h.owner.stop();
    await owners.delete(partitionKey(k), { previousSeq: h.revision }).catch(() => undefined);
  }

  /** Renews the membership, or joins under a new id when there is none (or it was lost). */
  async function renew(): Promise<void> {
    const sentAt = Date.now();
    if (member && sentAt >= validUntil) loseAll('not renewed within its term');
    try {
      if (member) memberRevision = await members.update(`${group}.${member}`, '', memberRevision);
      else {
        const id = randomUUID().slice(0, 12);
        memberRevision = await members.create(`${group}.${id}`, '');
        member = id;
      }
      validUntil = sentAt + ttlMs - marginMs;
    } catch (error) {
      if (member) loseAll((error as Error).message);
      throw error;
    }
  }

  const liveMembers = async (notBefore: number) => {
    const live = new Set<string>([member]);
    for (const key of await deps.listMembers(notBefore)) {
      if (key.startsWith(`${group}.`)) live.add(key.slice(group.length + 1));
    }
    return live;
  };

  async function balance(): Promise<void> {
    const target = Math.ceil(partitions / (await liveMembers(0)).size);
    if (held.size > target) {
      // The highest numbers go back: members then tend to keep the same partitions over time.
      const extra = [...held.keys()].sort((a, b) => b - a).slice(0, held.size - target);
      await Promise.all(extra.map(release));
      return;
    }
    if (held.size === target) return;
    // Below the target: read the holders first, then the members again, so a holder that joined
    // is in the list and is not taken for gone.
    const readAt = Date.now();
    const holders = await Promise.all(Array.from({ length: partitions }, (_, k) => (held.has(k) ? undefined : owners.get(partitionKey(k)))));
    const live = await liveMembers(readAt);
    for (const k of shuffle(Array.from({ length: partitions }, (_, k) => k))) {
      if (!running || held.size >= target || !member) break;
      if (held.has(k)) continue;
      const entry = holders[k];
      const free = !entry || entry.operation !== 'PUT';
      if (!free && live.has(entry.string())) continue;
      try {
        // Created when never held, else taken over from the revision read: another member doing
        // the same at once makes one of the two writes fail.
        acquired(k, entry ? await owners.update(partitionKey(k), member, entry.revision) : await owners.create(partitionKey(k), member));
      } catch {
        // Another member claimed it first.
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
        // The broker is unreachable: renewals fail and the membership lapses; owners stop on their own clocks.
        logger?.debug({ err: error, group }, 'partition assignment tick failed');
      }
      // On a grid of the tick: a process's groups tick together and share their listings.
      await stopping.sleep(tickMs - (Date.now() % tickMs));
    }
  })();

  return {
    async stop() {
      running = false;
      stopping.wake();
      await loop;
      await Promise.all([...held.keys()].map(release));
      if (member) await members.delete(`${group}.${member}`).catch(() => undefined);
    },
  };
}

/**
 * Lists a bucket's keys for every group of a process at once: a listing is a short-lived consumer
 * on the server (create, read, delete), and a process's groups tick together. A listing started
 * at or after `notBefore`, and younger than `maxAgeMs`, is reused.
 */
export function sharedKeyListing(kv: KV, maxAgeMs: number): (notBefore: number) => Promise<readonly string[]> {
  let last: { at: number; keys: Promise<readonly string[]> } | undefined;
  return (notBefore) => {
    const now = Date.now();
    if (!last || last.at < notBefore || now - last.at > maxAgeMs) {
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
