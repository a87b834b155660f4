import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../../../test/support/postgres.ts';
import type { Database, Queryable } from '../db/database.ts';
import { migrate } from '../db/migrations.ts';
import { createPostgresDatabase } from '../db/postgres.adapter.ts';
import { createLogger } from '../observability/logger.ts';
import type { SagaDefinition } from './saga.ts';
import { sagaMigrations } from './saga.schema.ts';
import { createSagaRunner, type SagaRunner } from './saga-runner.ts';

/** Several runners on one PostgreSQL database, each with its own pool: processes, as far as the database can tell. */

type Data = Record<string, never>;
const STEPS = ['reserve', 'charge', 'ship'] as const;
type StepName = (typeof STEPS)[number];

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A deferred: tests hold a step open with it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/**
 * A database handle that can be frozen: every statement waits until it thaws. A frozen runner is
 * a process stopped in its tracks (a long GC pause, SIGSTOP, a partition): no heartbeat reaches the
 * database, but whatever it was doing carries on once it thaws.
 */
function freezable(db: Database) {
  let thawed: Promise<void> = Promise.resolve();
  let thaw: () => void = () => undefined;
  const wait = () => thawed;
  const wrap = (q: Queryable): Queryable => ({
    query: async (sql, params) => (await wait(), q.query(sql, params)),
    exec: async (sql) => (await wait(), q.exec(sql)),
  });
  const frozen: Database = {
    ...wrap(db),
    engine: db.engine,
    transaction: async (fn) => (await wait(), db.transaction((tx) => fn(wrap(tx)))),
    ping: () => db.ping(),
    stats: () => db.stats(),
    close: () => db.close(),
  };
  return {
    db: frozen,
    freeze: () => void (thawed = new Promise<void>((resolve) => (thaw = resolve))),
    thaw: () => thaw(),
  };
}

describe('saga leases: many runners on one PostgreSQL database', () => {
  let scratch: ScratchDatabase;
  const pools: Database[] = [];
  const runners: SagaRunner[] = [];
  const logs: { msg: string; why?: string; owner?: string }[] = [];
  const logger = createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line)) });

  /** Every call of a step's `run`, by runner, in order; and every onCompleted/onFailed. */
  let calls: { runner: string; key: string; outcome: 'ok' }[] = [];
  let ends: { runner: string; id: string; outcome: string }[] = [];
  let sequence = 0;

  const pool = () => {
    const db = createPostgresDatabase({ connectionString: scratch.url, poolSize: 6 });
    pools.push(db);
    return db;
  };
  const definition = (runner: string, behaviour: Partial<Record<StepName, () => Promise<void>>> = {}, timeoutMs = 5_000): SagaDefinition<Data> => ({
    type: 'lease-test',
    steps: STEPS.map((name) => ({
      name,
      attempts: 1,
      timeoutMs,
      unavailableReason: `${name.toUpperCase()}_UNAVAILABLE`,
      async run(_data, context) {
        await (behaviour[name]?.() ?? new Promise((r) => setTimeout(r, 5)));
        calls.push({ runner, key: context.idempotencyKey, outcome: 'ok' });
        return { ok: true };
      },
      async compensate(_data, context) {
        calls.push({ runner, key: `undo:${context.idempotencyKey}`, outcome: 'ok' });
      },
    })),
    onCompleted: async (tx, id) => {
      await tx.query('select 1');
      ends.push({ runner, id, outcome: 'completed' });
    },
    onFailed: async (_tx, id, _data, reason) => void ends.push({ runner, id, outcome: reason }),
  });
  const runner = (db: Database, owner: string, options: { leaseMs?: number; pollMs?: number; claimBatch?: number; behaviour?: Parameters<typeof definition>[1]; timeoutMs?: number } = {}) => {
    const created = createSagaRunner({
      db, logger, owner, retryBaseMs: 1, definitions: [definition(owner, options.behaviour, options.timeoutMs)],
      leaseMs: options.leaseMs ?? 10_000, pollMs: options.pollMs ?? 50, claimBatch: options.claimBatch ?? 10,
    });
    runners.push(created);
    return created;
  };
  /** Begins `n` sagas from a process that then stops gracefully: they are due at once, for anyone. */
  const placeUnleased = async (n: number): Promise<string[]> => {
    const db = pool();
    const placer = runner(db, 'placer');
    const ids = Array.from({ length: n }, () => `saga-${++sequence}`);
    await db.transaction(async (tx) => {
      for (const id of ids) await placer.begin(tx, 'lease-test', id, {});
    });
    await placer.stop();
    return ids;
  };
  const statuses = async (db: Database, ids: string[]) =>
    (await db.query<{ status: string }>('select status from saga.instances where id = any($1::text[])', [ids])).rows.map((r) => r.status);
  const allEnded = (db: Database, ids: string[]) => async () => (await statuses(db, ids)).every((s) => s === 'completed' || s === 'cancelled' || s === 'failed');
  const callsOf = (key: string) => calls.filter((c) => c.key === key);

  beforeAll(async () => {
    scratch = await createScratchDatabase('scalemart_saga_leases');
    const db = pool();
    await migrate(db, 'saga', sagaMigrations);
  });
  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.stop()));
    calls = [];
    ends = [];
    logs.length = 0;
  });
  afterAll(async () => {
    await Promise.all(pools.splice(0).map((db) => db.close()));
    await scratch.drop();
  });

  it('two runners polling one database run each of 50 sagas exactly once, and both do work', async () => {
    const ids = await placeUnleased(50);
    const db = pool();
    // Polls far apart enough that one runner cannot take every batch before the other's first poll.
    const a = runner(db, 'A', { pollMs: 200 });
    const b = runner(pool(), 'B', { pollMs: 200 });
    a.start();
    b.start();
    await until(allEnded(db, ids), 'all 50 sagas to end');

    expect(await statuses(db, ids)).toEqual(ids.map(() => 'completed'));
    for (const id of ids) {
      for (const step of STEPS) expect(callsOf(`${id}:${step}`), `${id}:${step}`).toHaveLength(1);
      expect(ends.filter((e) => e.id === id), id).toHaveLength(1);
    }
    const byRunner = (name: string) => calls.filter((c) => c.runner === name).length;
    expect(byRunner('A')).toBeGreaterThan(0);
    expect(byRunner('B')).toBeGreaterThan(0);
    expect(byRunner('A') + byRunner('B')).toBe(150);
    // No lease is left behind by a saga that ended.
    const { rows } = await db.query<{ n: number }>('select count(*)::int as n from saga.instances where id = any($1::text[]) and lease_owner is not null', [ids]);
    expect(rows[0]!.n).toBe(0);
  });

  it('run(id) called by two processes at once executes each saga once', async () => {
    const ids = await placeUnleased(20);
    const db = pool();
    const a = runner(db, 'A');
    const b = runner(pool(), 'B');
    await Promise.all(ids.flatMap((id) => [a.run(id), b.run(id)]));

    expect(await statuses(db, ids)).toEqual(ids.map(() => 'completed'));
    for (const id of ids) {
      for (const step of STEPS) expect(callsOf(`${id}:${step}`), `${id}:${step}`).toHaveLength(1);
      expect(ends.filter((e) => e.id === id), id).toHaveLength(1);
    }
  });

  it('a runner that stops responding loses its sagas to a survivor when the lease lapses; its late step completion is fenced off', async () => {
    const held = gate();
    let inFlight = 0;
    let returned = 0;
    const frozen = freezable(pool());
    // The doomed runner's last step hangs until the test lets it return, long after its lease lapsed.
    const doomed = runner(frozen.db, 'doomed', {
      leaseMs: 600,
      timeoutMs: 30_000,
      behaviour: { ship: async () => (inFlight++, await held.opened, returned++, undefined) },
    });
    const ids = Array.from({ length: 5 }, () => `saga-${++sequence}`);
    await frozen.db.transaction(async (tx) => {
      for (const id of ids) await doomed.begin(tx, 'lease-test', id, {});
    });
    const doomedRuns = ids.map((id) => doomed.run(id));
    await until(() => inFlight === ids.length, 'the doomed runner to be mid-ship on every saga');

    frozen.freeze();
    const db = pool();
    const survivor = runner(db, 'survivor', { leaseMs: 600, pollMs: 50 });
    survivor.start();
    await until(allEnded(db, ids), 'the survivor to finish the sagas');
    expect(await statuses(db, ids)).toEqual(ids.map(() => 'completed'));
    expect(ends.map((e) => e.runner)).toEqual(ids.map(() => 'survivor'));

    // The doomed runner comes back to life: its ship calls return ok, and it tries to complete the sagas.
    held.open();
    await until(() => returned === ids.length, 'the doomed ship calls to return');
    frozen.thaw();
    await Promise.all(doomedRuns);

    for (const id of ids) {
      // Both processes called ship (the idempotency key is what the provider sees twice)...
      expect(callsOf(`${id}:ship`).map((c) => c.runner).sort(), id).toEqual(['doomed', 'survivor']);
      expect(callsOf(`${id}:reserve`).map((c) => c.runner), id).toEqual(['doomed']);
      // ...but the saga moved once: one recorded ship, one completion.
      const history = await survivor.history(id);
      expect(history.filter((h) => h.step === 'ship' && h.phase === 'run'), id).toHaveLength(1);
      expect(history.filter((h) => h.phase === 'run').map((h) => h.step), id).toEqual(['reserve', 'charge', 'ship']);
    }
    expect(ends).toHaveLength(ids.length);
    expect(logs.filter((l) => l.owner === 'doomed' && l.msg === 'saga left to its next lease owner' && l.why === 'fenced')).toHaveLength(ids.length);
  });

  it('a runner that stops gracefully releases its leases, so another takes over at once, not after the lease', async () => {
    const db = pool();
    let inFlight = 0;
    const leaving = runner(pool(), 'leaving', { leaseMs: 60_000, behaviour: { charge: async () => (inFlight++, await new Promise((r) => setTimeout(r, 200))) } });
    const staying = runner(db, 'staying', { leaseMs: 60_000, pollMs: 50 });
    staying.start();
    const ids = Array.from({ length: 3 }, () => `saga-${++sequence}`);
    await db.transaction(async (tx) => {
      for (const id of ids) await leaving.begin(tx, 'lease-test', id, {});
    });
    for (const id of ids) void leaving.run(id);
    await until(() => inFlight === ids.length, 'the charges to be in flight');
    const stopping = Date.now();
    await leaving.stop();
    // Far below the 60 s lease: only a release makes this possible.
    await until(allEnded(db, ids), 'the staying runner to finish the sagas', 10_000);
    expect(Date.now() - stopping).toBeLessThan(10_000);

    for (const id of ids) {
      // The charge in flight finished and was recorded by the leaving runner; the rest is the staying one's.
      expect(callsOf(`${id}:charge`).map((c) => c.runner), id).toEqual(['leaving']);
      expect(callsOf(`${id}:ship`).map((c) => c.runner), id).toEqual(['staying']);
    }
    expect(ends.map((e) => e.runner)).toEqual(ids.map(() => 'staying'));
  });

  it('cancels from another process: the lease owner sees the request, and an unheld saga is claimed by the canceller', async () => {
    const held = gate();
    let inFlight = 0;
    const owner = runner(pool(), 'owner', { behaviour: { charge: async () => (inFlight++, await held.opened) } });
    const db = pool();
    const other = runner(db, 'other');

    const busy = `saga-${++sequence}`;
    await db.transaction((tx) => owner.begin(tx, 'lease-test', busy, {}));
    const running = owner.run(busy);
    await until(() => inFlight === 1, 'the charge to be in flight');
    expect(await other.cancel(busy)).toBe(true);
    held.open();
    await running;
    expect(await other.status(busy)).toEqual({ status: 'cancelled', reason: 'CANCELLED' });
    expect(calls.filter((c) => c.key.startsWith('undo:')).map((c) => [c.runner, c.key])).toEqual([
      ['owner', `undo:${busy}:charge`],
      ['owner', `undo:${busy}:reserve`],
    ]);

    const [orphan] = await placeUnleased(1);
    expect(await other.cancel(orphan!)).toBe(true);
    await until(allEnded(db, [orphan!]), 'the orphan to be cancelled');
    expect(await other.status(orphan!)).toEqual({ status: 'cancelled', reason: 'CANCELLED' });
    expect(ends.filter((e) => e.id === orphan).map((e) => [e.runner, e.outcome])).toEqual([['other', 'CANCELLED']]);
  });
});
