import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../db/database.ts';
import { migrate } from '../db/migrations.ts';
import { createPgliteDatabase } from '../db/pglite.adapter.ts';
import { createLogger } from '../observability/logger.ts';
import { DependencyUnavailableError } from '../resilience/dependency-error.ts';
import type { SagaDefinition, SagaStep } from './saga.ts';
import { sagaMigrations } from './saga.schema.ts';
import { createSagaRunner } from './saga-runner.ts';

type Data = { log: string[] };
const logger = createLogger('silent');

/** Steps that write what they do to a shared journal, so a test sees the order of effects. */
function steps(journal: string[], behaviour: Record<string, () => Promise<'ok' | 'refuse' | 'throw' | 'hang' | 'not-sent'>>): SagaStep<Data>[] {
  return ['reserve', 'charge', 'ship'].map((name) => ({
    name,
    attempts: 2,
    timeoutMs: 200,
    unavailableReason: `${name.toUpperCase()}_UNAVAILABLE`,
    async run(_data, context) {
      const outcome = await (behaviour[name] ?? (async () => 'ok' as const))();
      journal.push(`${name}:${outcome}:${context.idempotencyKey}`);
      if (outcome === 'throw') throw new Error(`${name} exploded`);
      if (outcome === 'not-sent') throw new DependencyUnavailableError(name, 'bulkhead full, failing fast', { notSent: true });
      if (outcome === 'hang') await new Promise(() => undefined);
      return outcome === 'ok' ? { ok: true, data: {} } : { ok: false, reason: `${name.toUpperCase()}_REFUSED` };
    },
    async compensate() {
      journal.push(`undo-${name}`);
    },
  }));
}

describe('saga runner', () => {
  let db: Database;
  const ends: string[] = [];
  const definition = (journal: string[], behaviour: Parameters<typeof steps>[1]): SagaDefinition<Data> => ({
    type: 'test',
    steps: steps(journal, behaviour),
    onCompleted: async (_tx, id) => void ends.push(`${id}:completed`),
    onFailed: async (_tx, id, _data, reason) => void ends.push(`${id}:${reason}`),
  });
  const start = async (runner: ReturnType<typeof createSagaRunner>, id: string) => {
    await db.transaction((tx) => runner.begin(tx, 'test', id, { log: [] }));
    await runner.run(id);
  };

  beforeAll(async () => {
    db = await createPgliteDatabase({ dataDir: 'memory://' });
    await migrate(db, 'saga', sagaMigrations);
  });
  beforeEach(() => void (ends.length = 0));
  afterAll(() => db.close());

  it('runs every step once, keyed by saga and step, then completes', async () => {
    const journal: string[] = [];
    const runner = createSagaRunner({ db, logger, definitions: [definition(journal, {})], retryBaseMs: 1 });
    await start(runner, 's1');
    expect(journal).toEqual(['reserve:ok:s1:reserve', 'charge:ok:s1:charge', 'ship:ok:s1:ship']);
    expect(ends).toEqual(['s1:completed']);
    expect(await runner.status('s1')).toEqual({ status: 'completed', reason: null });
  });

  it('compensates the steps before a refusing step, in reverse, and fails with its reason', async () => {
    const journal: string[] = [];
    const runner = createSagaRunner({ db, logger, definitions: [definition(journal, { ship: async () => 'refuse' })], retryBaseMs: 1 });
    await start(runner, 's2');
    expect(journal).toEqual(['reserve:ok:s2:reserve', 'charge:ok:s2:charge', 'ship:refuse:s2:ship', 'undo-charge', 'undo-reserve']);
    expect(ends).toEqual(['s2:SHIP_REFUSED']);
  });

  it('retries a throwing or hanging step, then compensates it too, since its outcome is unknown', async () => {
    const journal: string[] = [];
    const runner = createSagaRunner({ db, logger, definitions: [definition(journal, { charge: async () => 'hang' })], retryBaseMs: 1 });
    await start(runner, 's3');
    expect(journal).toEqual(['reserve:ok:s3:reserve', 'charge:hang:s3:charge', 'charge:hang:s3:charge', 'undo-charge', 'undo-reserve']);
    expect(ends).toEqual(['s3:CHARGE_UNAVAILABLE']);
  });

  it('does not compensate a step whose every attempt was refused before it was sent, only the steps before it', async () => {
    const journal: string[] = [];
    const runner = createSagaRunner({ db, logger, definitions: [definition(journal, { charge: async () => 'not-sent' })], retryBaseMs: 1 });
    await start(runner, 's3n');
    expect(journal).toEqual(['reserve:ok:s3n:reserve', 'charge:not-sent:s3n:charge', 'charge:not-sent:s3n:charge', 'undo-reserve']);
    expect(ends).toEqual(['s3n:CHARGE_UNAVAILABLE']);
    // One attempt that may have landed is enough to compensate it.
    const mixed: string[] = [];
    let calls = 0;
    const second = createSagaRunner({ db, logger, definitions: [definition(mixed, { charge: async () => (++calls === 1 ? 'throw' : 'not-sent') })], retryBaseMs: 1 });
    await start(second, 's3m');
    expect(mixed).toEqual(['reserve:ok:s3m:reserve', 'charge:throw:s3m:charge', 'charge:not-sent:s3m:charge', 'undo-charge', 'undo-reserve']);
  });

  it('resumes an unfinished saga after a crash, from the last recorded step', async () => {
    const journal: string[] = [];
    let crash = true;
    const crashing = createSagaRunner({ db, logger, definitions: [definition(journal, { charge: async () => (crash ? 'hang' : 'ok') })], retryBaseMs: 1 });
    await db.transaction((tx) => crashing.begin(tx, 'test', 's4', { log: [] }));
    void crashing.run('s4');
    await new Promise((r) => setTimeout(r, 50));
    // The process stops mid-charge: nothing after the reserve step was recorded, and its lease is
    // released. (A process that dies without releasing is the lease suite's takeover test.)
    await crashing.stop();
    crash = false;
    const restarted = createSagaRunner({ db, logger, definitions: [definition(journal, {})], retryBaseMs: 1 });
    expect(await restarted.resumeAll()).toBe(1);
    await restarted.run('s4');
    expect(journal.filter((j) => j.startsWith('reserve'))).toHaveLength(1);
    expect(journal.at(-1)).toBe('ship:ok:s4:ship');
    expect(ends).toEqual(['s4:completed']);
  });

  it('on PGlite too, a polling runner takes over a saga whose lease lapsed, and only one claims it', async () => {
    const journal: string[] = [];
    // Begun by a process that died before running it: its lease lapses after 200 ms.
    const gone = createSagaRunner({ db, logger, definitions: [definition(journal, {})], owner: 'gone', leaseMs: 200 });
    await db.transaction((tx) => gone.begin(tx, 'test', 's6', { log: [] }));
    const pollers = ['p1', 'p2'].map((owner) => createSagaRunner({ db, logger, definitions: [definition(journal, {})], owner, pollMs: 20, retryBaseMs: 1 }));
    for (const poller of pollers) poller.start();
    const deadline = Date.now() + 10_000;
    while ((await pollers[0]!.status('s6'))!.status !== 'completed') {
      if (Date.now() > deadline) throw new Error('s6 was never taken over');
      await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all(pollers.map((poller) => poller.stop()));
    expect(journal).toEqual(['reserve:ok:s6:reserve', 'charge:ok:s6:charge', 'ship:ok:s6:ship']);
    expect(ends).toEqual(['s6:completed']);
  });

  it('cancels a completed saga by compensating every step', async () => {
    const journal: string[] = [];
    const runner = createSagaRunner({ db, logger, definitions: [definition(journal, {})], retryBaseMs: 1 });
    await start(runner, 's5');
    expect(await runner.cancel('s5')).toBe(true);
    await runner.run('s5');
    expect(journal.slice(3)).toEqual(['undo-ship', 'undo-charge', 'undo-reserve']);
    expect(ends).toEqual(['s5:completed', 's5:CANCELLED']);
    expect((await runner.status('s5'))!.status).toBe('cancelled');
    expect(await runner.cancel('s5')).toBe(false);
  });
});
