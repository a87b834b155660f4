import { AsyncLocalStorage } from 'node:async_hooks';
import type { Database } from '../database.ts';
import type { ReadWriteRouter, Session } from './read-write-router.ts';

/** A plain read: SELECT (or a WITH without data-modifying statements) that takes no row locks. */
export function isReadOnly(sql: string): boolean {
  const text = sql.trimStart().toLowerCase();
  if (!text.startsWith('select') && !text.startsWith('with')) return false;
  if (/\bfor\s+(update|share|no\s+key\s+update|key\s+share)\b/.test(text)) return false;
  return !(text.startsWith('with') && /\b(insert|update|delete|merge)\b/.test(text));
}

/**
 * Carries the calling client's session through async work, so every statement of one request
 * routes with that client's last write position. The HTTP edge runs each request inside it.
 */
export function createSessionContext() {
  const storage = new AsyncLocalStorage<Session>();
  return {
    run: <T>(session: Session, fn: () => T): T => storage.run(session, fn),
    current: (): Session | undefined => storage.getStore(),
  };
}

export type SessionContext = ReturnType<typeof createSessionContext>;

/**
 * The Database port over a primary and its replicas: modules keep calling `query` and
 * `transaction`; plain reads go to replicas per the router, everything else to the primary.
 */
export function createReplicatedDatabase(primary: Database, router: ReadWriteRouter, sessions: SessionContext): Database {
  return {
    engine: primary.engine,
    ...(primary.outbox ? { outbox: primary.outbox } : {}),
    query: (sql, params) => (isReadOnly(sql)
      ? router.read(sessions.current(), sql, params)
      : router.write(sessions.current(), (tx) => tx.query(sql, params))),
    exec: (sql) => router.write(sessions.current(), (tx) => tx.exec(sql)),
    transaction: (fn) => router.write(sessions.current(), fn),
    ping: () => primary.ping(),
    stats: () => primary.stats(),
    async close() {
      router.stop();
      await primary.close();
    },
  };
}
