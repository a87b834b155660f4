import { describe, expect, it } from 'vitest';
import type { Database, Queryable } from '../database.ts';
import { parseLsn } from './lsn.ts';
import { createReadWriteRouter, type ReadTarget } from './read-write-router.ts';

/** A stand-in server: answers the router's position queries from `lsn`, and everything else with its name. */
function fakeServer(name: string, lsn: { value: string | null }, fail = { now: false }): Database {
  const query = async <R>(sql: string) => {
    if (fail.now) throw new Error(`${name} is down`);
    if (sql.includes('_lsn()')) return { rows: [{ lsn: lsn.value }] as R[], rowCount: 0 };
    return { rows: [{ server: name }] as R[], rowCount: 0 };
  };
  const tx: Queryable = { query, exec: async () => undefined };
  return { engine: 'postgres', query, exec: async () => undefined, transaction: (fn) => fn(tx), ping: async () => undefined, stats: () => ({ queries: 0 }), close: async () => undefined };
}

function setup() {
  const primaryLsn = { value: '0/1000' };
  const aLsn = { value: '0/1000' as string | null };
  const bLsn = { value: '0/0F00' as string | null };
  const aDown = { now: false };
  const reads: ReadTarget[] = [];
  const fallbacks: string[] = [];
  const router = createReadWriteRouter({
    primary: fakeServer('primary', primaryLsn),
    replicas: [{ name: 'a', db: fakeServer('a', aLsn, aDown) }, { name: 'b', db: fakeServer('b', bLsn) }],
    maxLagBytes: 0x80n,
    onRead: (target) => reads.push(target),
    onFallback: (replica) => fallbacks.push(replica),
  });
  const served = async (session?: { lastWriteLsn?: bigint; primaryOnly?: boolean }) => (await router.read<{ server: string }>(session, 'select 1')).rows[0]!.server;
  return { router, primaryLsn, aLsn, bLsn, aDown, reads, fallbacks, served };
}

describe('read/write router', () => {
  it('parses WAL positions into comparable byte offsets', () => {
    expect(parseLsn('0/10')).toBe(16n);
    expect(parseLsn('16/B374D848') - parseLsn('16/B374D840')).toBe(8n);
    expect(parseLsn('1/0')).toBe(4294967296n);
  });

  it('reads from the primary until the replicas were probed, then skips a replica lagging past the bound', async () => {
    const { router, served, reads } = setup();
    expect(await served()).toBe('primary');
    await router.probe();
    expect(router.state().map((s) => [s.name, s.healthy, s.lagBytes])).toEqual([['a', true, 0n], ['b', true, 256n]]);
    expect([await served(), await served()]).toEqual(['a', 'a']);
    expect(reads).toEqual(['primary', 'a', 'a']);
  });

  it('round-robins between replicas that are close enough', async () => {
    const { router, served, bLsn } = setup();
    bLsn.value = '0/0FC0';
    await router.probe();
    expect([await served(), await served(), await served(), await served()].sort()).toEqual(['a', 'a', 'b', 'b']);
  });

  it('sends a session to the primary until a replica has replayed its last write', async () => {
    const { router, served, primaryLsn, aLsn } = setup();
    const session = {};
    primaryLsn.value = '0/1050';
    await router.write(session, async () => undefined);
    expect(session).toEqual({ lastWriteLsn: 0x1050n });
    await router.probe();
    expect(await served(session)).toBe('primary');
    expect(await served()).toBe('a');
    aLsn.value = '0/1050';
    await router.probe();
    expect(await served(session)).toBe('a');
  });

  it('sends a primary-only session (a cache load) to the primary, however current the replicas are', async () => {
    const { router, served } = setup();
    await router.probe();
    expect(await served()).toBe('a');
    expect(await served({ primaryOnly: true })).toBe('primary');
  });

  it('ejects a replica that fails a read, serves the read from the primary without an error, and re-admits it when it answers', async () => {
    const { router, served, aDown, fallbacks } = setup();
    await router.probe();
    aDown.now = true;
    expect(await served()).toBe('primary');
    expect(fallbacks).toEqual(['a']);
    expect(await served()).toBe('primary');
    await router.probe();
    expect(router.state()[0]!.healthy).toBe(false);
    aDown.now = false;
    await router.probe();
    expect(await served()).toBe('a');
  });

  it('treats a server that is not in recovery (no replay position) as no replica', async () => {
    const { router, served, aLsn } = setup();
    aLsn.value = null;
    await router.probe();
    expect(await served()).toBe('primary');
  });
});

describe('replicated database', () => {
  it('tells plain reads from statements that must run on the primary', async () => {
    const { isReadOnly } = await import('./replicated-database.ts');
    expect(isReadOnly('  SELECT * FROM catalog.products WHERE id = $1')).toBe(true);
    expect(isReadOnly('with x as (select 1) select * from x')).toBe(true);
    expect(isReadOnly('select * from inventory.stock where sku = $1 for update')).toBe(false);
    expect(isReadOnly('with moved as (delete from t returning *) select * from moved')).toBe(false);
    expect(isReadOnly('update inventory.stock set available = 0')).toBe(false);
    expect(isReadOnly('insert into t values (1)')).toBe(false);
  });

  it("routes a module's statements by kind, and a client's reads after its write to a replica that has it", async () => {
    const { createReplicatedDatabase, createSessionContext } = await import('./replicated-database.ts');
    const { router, primaryLsn, aLsn } = setup();
    const sessions = createSessionContext();
    const db = createReplicatedDatabase(fakeServer('primary', primaryLsn), router, sessions);
    await router.probe();
    const session = {};
    await sessions.run(session, async () => {
      expect((await db.query<{ server: string }>('select 1')).rows[0]!.server).toBe('a');
      primaryLsn.value = '0/2000';
      await db.query('update t set x = 1');
      expect((await db.query<{ server: string }>('select 1')).rows[0]!.server).toBe('primary');
    });
    await router.probe();
    // A client that did not write avoids the replica too: it is now past the lag bound.
    expect((await db.query<{ server: string }>('select 1')).rows[0]!.server).toBe('primary');
    aLsn.value = '0/2000';
    await router.probe();
    await sessions.run(session, async () => expect((await db.query<{ server: string }>('select 1')).rows[0]!.server).toBe('a'));
  });
});
