import type { Database, Queryable, QueryResult } from '../database.ts';
import { parseLsn } from './lsn.ts';

/** What a client carries between requests so that its reads see its own writes. */
export interface Session {
  /** WAL position of the client's last write on the primary. */
  lastWriteLsn?: bigint;
  /** Reads must see every commit so far (a cache load, whose result every client gets): primary only. */
  primaryOnly?: boolean;
}

export interface Replica {
  name: string;
  db: Database;
}

export type ReadTarget = string | 'primary';

export interface RouterEvents {
  /** A read was served by `target` (a replica's name or `primary`). */
  onRead?(target: ReadTarget): void;
  /** A read meant for a replica went to the primary because the replica failed mid-read. */
  onFallback?(replica: string, error: unknown): void;
}

export interface RouterOptions extends RouterEvents {
  primary: Database;
  replicas: readonly Replica[];
  /** A replica further behind the primary than this is skipped. Default 16 MiB. */
  maxLagBytes?: bigint;
  /** How often replicas are probed (position, health). Default 250 ms. */
  probeEveryMs?: number;
}

export interface ReplicaState {
  name: string;
  healthy: boolean;
  replayLsn: bigint | null;
  lagBytes: bigint | null;
}

export interface ReadWriteRouter {
  /** Writes and transactions: always the primary; records the write's WAL position in the session. */
  write<T>(session: Session | undefined, fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Reads: a healthy replica that is close enough and has replayed the session's last write; else (or primaryOnly) the primary. */
  read<R>(session: Session | undefined, sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** Probes every replica now (also runs on a timer once started). */
  probe(): Promise<void>;
  state(): ReplicaState[];
  start(): void;
  stop(): void;
}

/**
 * Routes reads to streaming replicas and writes to the primary. A replica is used only while it
 * answers its probe and its replay position is within `maxLagBytes` of the primary's, and for a
 * session that wrote, only once it has replayed that write (read-your-writes). A replica that
 * fails a read is ejected and the read is retried on the primary, so the caller sees no error;
 * the next successful probe re-admits it.
 */
export function createReadWriteRouter(options: RouterOptions): ReadWriteRouter {
  const maxLag = options.maxLagBytes ?? 16n * 1024n * 1024n;
  const states = new Map<string, ReplicaState>(options.replicas.map((r) => [r.name, { name: r.name, healthy: false, replayLsn: null, lagBytes: null }]));
  let next = 0;
  let timer: NodeJS.Timeout | undefined;

  async function probe(): Promise<void> {
    const primary = await options.primary.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
    const primaryLsn = parseLsn(primary.rows[0]!.lsn);
    await Promise.all(options.replicas.map(async (replica) => {
      const state = states.get(replica.name)!;
      try {
        const { rows } = await replica.db.query<{ lsn: string | null }>('select pg_last_wal_replay_lsn()::text as lsn');
        const replayLsn = rows[0]?.lsn ? parseLsn(rows[0].lsn) : null;
        Object.assign(state, { healthy: replayLsn !== null, replayLsn, lagBytes: replayLsn === null ? null : primaryLsn - replayLsn });
      } catch {
        Object.assign(state, { healthy: false });
      }
    }));
  }

  function eligible(session: Session | undefined): Replica[] {
    if (session?.primaryOnly) return [];
    return options.replicas.filter((replica) => {
      const state = states.get(replica.name)!;
      if (!state.healthy || state.replayLsn === null || state.lagBytes === null || state.lagBytes > maxLag) return false;
      return session?.lastWriteLsn === undefined || state.replayLsn >= session.lastWriteLsn;
    });
  }

  async function fromPrimary<R>(sql: string, params?: readonly unknown[]) {
    options.onRead?.('primary');
    return options.primary.query<R>(sql, params);
  }

  return {
    async write(session, fn) {
      const result = await options.primary.transaction(fn);
      if (session) {
        // Taken after the commit: a position read inside the transaction precedes its commit
        // record, and a replica can replay up to it (replicas hold back commit records under
        // recovery_min_apply_delay) while the row is still invisible there.
        const { rows } = await options.primary.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
        session.lastWriteLsn = parseLsn(rows[0]!.lsn);
      }
      return result;
    },

    async read<R>(session: Session | undefined, sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      const candidates = eligible(session);
      if (candidates.length === 0) return fromPrimary(sql, params);
      const replica = candidates[next++ % candidates.length]!;
      try {
        const result = await replica.db.query<R>(sql, params);
        options.onRead?.(replica.name);
        return result;
      } catch (error) {
        states.get(replica.name)!.healthy = false;
        options.onFallback?.(replica.name, error);
        return fromPrimary(sql, params);
      }
    },

    probe,
    state: () => [...states.values()].map((s) => ({ ...s })),
    start() {
      const every = options.probeEveryMs ?? 250;
      const tick = () => void probe().catch(() => undefined).finally(() => { if (timer) timer = setTimeout(tick, every); });
      timer = setTimeout(tick, 0);
    },
    stop() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
