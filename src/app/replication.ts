import { LRUCache } from 'lru-cache';
import type { Config } from '../platform/config/config.ts';
import { createDatabase } from '../platform/db/create-database.ts';
import type { Database } from '../platform/db/database.ts';
import { createReadWriteRouter, type ReadWriteRouter, type Session } from '../platform/db/replication/read-write-router.ts';
import { createReplicatedDatabase, createSessionContext } from '../platform/db/replication/replicated-database.ts';
import type { CarriedWritePosition } from '../platform/db/replication/write-position.ts';
import type { DatabaseMetrics } from '../platform/observability/db-metrics.ts';
import type { Metrics } from '../platform/observability/metrics.ts';
import { createReplicationMetrics } from '../platform/observability/replication-metrics.ts';

const latest = (a: bigint | undefined, b: bigint | undefined) => (a === undefined || (b !== undefined && b > a) ? b : a);

/** Clients whose last write position is remembered; an evicted client's next read may go to the primary. */
const REMEMBERED_CLIENTS = 100_000;

export interface Replication {
  /** The Database port over the primary and its replicas: what the modules use. */
  db: Database;
  router: ReadWriteRouter;
  /**
   * Runs `next` (the rest of a request) as `client` from `address`, so its reads see its own
   * earlier writes. A client is tracked by both: a signup (anonymous, by address) followed by the
   * new account's first authenticated read must see the account. `carried` is the position the
   * client brought (its last write on any instance) and learns of its writes here.
   */
  runAs(client: string, address: string, next: () => void, carried?: CarriedWritePosition): void;
  /** Runs `work` with every read on the primary: for loads whose result is shared (the cache's). */
  onPrimary<T>(work: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * Reads on streaming replicas, writes and transactions on the primary, read-your-writes per
 * client. Null when no replica is configured: the modules then use the primary directly.
 */
export async function openReplication(config: Config, primary: Database, metrics?: Metrics, pools?: DatabaseMetrics): Promise<Replication | null> {
  if (config.replicaUrls.length === 0) return null;
  const replicas = await Promise.all(config.replicaUrls.map(async (url, index) => {
    const name = `replica-${index + 1}`;
    const db = await createDatabase({ url, dataDir: config.dataDir, poolSize: config.dbPoolSize, onAcquireWait: pools?.onAcquireWait(name) });
    pools?.watch(db, name);
    return { name, db };
  }));
  const events = metrics ? createReplicationMetrics(metrics) : undefined;
  const router = createReadWriteRouter({ primary, replicas, maxLagBytes: BigInt(config.replicaMaxLagBytes), onRead: events?.onRead, onFallback: events?.onFallback });
  events?.watch(router);
  // The first probe decides which replicas may serve; until it answers, reads go to the primary.
  await router.probe();
  router.start();
  const sessions = createSessionContext();
  const clients = new LRUCache<string, Session>({ max: REMEMBERED_CLIENTS });
  const sessionOf = (key: string) => {
    let session = clients.get(key);
    if (!session) clients.set(key, (session = {}));
    return session;
  };
  return {
    db: createReplicatedDatabase(primary, router, sessions),
    router,
    runAs(client, address, next, carried) {
      const own = sessionOf(client);
      const fromAddress = client === address ? own : sessionOf(address);
      sessions.run({
        get lastWriteLsn() {
          return latest(latest(own.lastWriteLsn, fromAddress.lastWriteLsn), carried?.lastWriteLsn);
        },
        set lastWriteLsn(lsn) {
          own.lastWriteLsn = lsn;
          fromAddress.lastWriteLsn = lsn;
          if (lsn !== undefined) carried?.wrote(lsn);
        },
      }, next);
    },
    onPrimary: (work) => sessions.run({ primaryOnly: true }, work),
    async close() {
      router.stop();
      await Promise.all(replicas.map((replica) => replica.db.close()));
    },
  };
}
