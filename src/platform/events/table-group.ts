import { handleUntilAck, LOG_COLUMNS, runLoop, type LogRow, type LoopDeps } from './table-consumers.ts';

export interface TableGroupDeps extends LoopDeps {
  /** This subscriber, unique across processes. */
  owner: string;
  leaseMs: number;
}

/**
 * A group subscriber on the table log. The group's row carries a lease: only its holder
 * delivers, so any number of subscribers in any number of processes handle each event once and
 * in order; the others wait and take over when the holder stops (it releases) or dies (the lease
 * expires). Times come from the database (`clock_timestamp()`), never from process clocks.
 * Every statement stands alone: PGlite has one connection, and a transaction held across the
 * handler would block everyone else.
 */
export function startTableGroup(deps: TableGroupDeps) {
  const { db, name, owner, leaseMs } = deps;
  let holding = false;

  const claim = async () => {
    const { rows } = await db.query(
      `update events.consumers set owner = $2, lease_until = clock_timestamp() + $3::int * interval '1 millisecond'
       where name = $1 and (owner is null or owner = $2 or lease_until is null or lease_until < clock_timestamp()) returning 1`,
      [name, owner, leaseMs],
    );
    return rows.length > 0;
  };
  // Renewed in the background, so a long handler or a retry delay keeps the lease.
  const renewer = setInterval(() => {
    if (!holding) return;
    db.query(
      `update events.consumers set lease_until = clock_timestamp() + $3::int * interval '1 millisecond' where name = $1 and owner = $2 returning 1`,
      [name, owner, leaseMs],
    ).then((r) => (holding &&= r.rows.length > 0), () => undefined);
  }, leaseMs / 3);
  renewer.unref();

  return runLoop(deps, async (running, stopping) => {
    const { rows } = await db.query<LogRow & { position: string; mine: boolean }>(
      `select c.position, coalesce(c.owner = $3 and c.lease_until > clock_timestamp(), false) as mine, n.*
       from events.consumers c
       left join lateral (select ${LOG_COLUMNS} from events.log l where l.seq > c.position and l.type = any($2::text[]) order by l.seq limit 1) n on true
       where c.name = $1`,
      [name, deps.types, owner],
    );
    const row = rows[0];
    if (!row) {
      await db.query('insert into events.consumers (name) values ($1) on conflict do nothing', [name]);
      return true;
    }
    if (!row.mine) return (holding = await claim());
    holding = true;
    if (row.seq === null) return false;
    if (!(await handleUntilAck(deps, row, running, stopping, () => holding))) return true;
    // Fenced twice: by owner (a subscriber that lost the lease cannot move the position) and by
    // the position it read (a rewind meanwhile is not undone by this ack).
    await db.query(
      'update events.consumers set position = $3, updated_at = now() where name = $1 and owner = $2 and position = $4',
      [name, owner, row.seq, row.position],
    );
    return true;
  }, async () => {
    clearInterval(renewer);
    holding = false;
    await db.query('update events.consumers set owner = null, lease_until = null where name = $1 and owner = $2', [name, owner]);
  });
}
