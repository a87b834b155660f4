import type { Queryable } from '../db/database.ts';

/**
 * The lease on saga.instances rows: the process whose id is `lease_owner` works the saga until
 * `lease_expires_at`. Every expiry is computed and compared on the database clock
 * (`clock_timestamp()`), never on a Node clock, so processes on skewed hosts still agree.
 */
export interface SagaLeases {
  /**
   * Claims up to `limit` due sagas of the given types (unfinished, lease absent or lapsed), oldest
   * first, skipping rows another claimer has locked. With `reclaimMine`, leases this owner still
   * holds count as due too, except `executing` (a restarted process that kept its id takes back its
   * own sagas at once). Returns the claimed ids.
   */
  claimDue(limit: number, options?: { reclaimMine?: boolean; executing?: readonly string[] }): Promise<string[]>;
  /** Claims one unfinished saga if nobody else holds a live lease on it. */
  claim(id: string, tx?: Queryable): Promise<boolean>;
  /** Pushes the expiry of the leases this owner still holds among `ids`; returns those ids. */
  extend(ids: readonly string[]): Promise<Set<string>>;
  /** Lets go of every lease this owner holds, so another process can claim them at once. */
  releaseAll(): Promise<number>;
}

const UNFINISHED = `status in ('running', 'compensating')`;
/** Parameter $2 is always the lease length in ms. */
const EXPIRY = `clock_timestamp() + $2::int * interval '1 millisecond'`;
const FREE = '(lease_expires_at is null or lease_expires_at <= clock_timestamp())';

export function createSagaLeases(db: Queryable, owner: string, leaseMs: number, types: readonly string[]): SagaLeases {
  return {
    async claimDue(limit, options = {}) {
      const { rows } = await db.query<{ id: string }>(
        `with due as (
           select id from saga.instances
           where ${UNFINISHED} and type = any($4::text[])
             and (${FREE} or ($5 and lease_owner = $1 and id <> all($6::text[])))
           order by created_at
           limit $3
           for update skip locked
         )
         update saga.instances i set lease_owner = $1, lease_expires_at = ${EXPIRY}
         from due where i.id = due.id
         returning i.id`,
        [owner, leaseMs, limit, types, options.reclaimMine ?? false, options.executing ?? []],
      );
      return rows.map((r) => r.id);
    },
    async claim(id, tx = db) {
      const { rowCount } = await tx.query(
        `update saga.instances set lease_owner = $1, lease_expires_at = ${EXPIRY}
         where id = $3 and ${UNFINISHED} and (${FREE} or lease_owner = $1)`,
        [owner, leaseMs, id],
      );
      return rowCount > 0;
    },
    async extend(ids) {
      if (ids.length === 0) return new Set();
      const { rows } = await db.query<{ id: string }>(
        `update saga.instances set lease_expires_at = ${EXPIRY}
         where id = any($3::text[]) and lease_owner = $1 and ${UNFINISHED}
         returning id`,
        [owner, leaseMs, ids],
      );
      return new Set(rows.map((r) => r.id));
    },
    async releaseAll() {
      const { rowCount } = await db.query(`update saga.instances set lease_owner = null, lease_expires_at = null where lease_owner = $1 and ${UNFINISHED}`, [owner]);
      return rowCount;
    },
  };
}
