import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Database, Queryable } from '../db/database.ts';
import { createWaker } from '../events/wake.ts';
import { backoffDelay } from '../resilience/backoff.ts';
import { DependencyUnavailableError } from '../resilience/dependency-error.ts';
import { canMove, CANCELLED, type SagaDefinition, type SagaHistoryEntry, type SagaStatus, type StepResult } from './saga.ts';
import { createHeartbeat, type Execution } from './saga-heartbeat.ts';
import { createSagaLeases } from './saga-leases.ts';
import { attempt } from './saga-step.ts';

interface InstanceRow {
  id: string;
  type: string;
  status: SagaStatus;
  step: number;
  data: unknown;
  reason: string | null;
  cancel_requested: boolean;
}

export interface SagaRunner {
  /** Records a new saga in the caller's transaction, leased to this process; call `run(id)` after the commit. */
  begin(tx: Queryable, type: string, id: string, data: unknown): Promise<void>;
  /**
   * Claims the saga and drives it until it completes or fails. Does nothing when another process
   * holds a live lease on it; safe to call twice (one execution per process).
   */
  run(id: string): Promise<void>;
  /**
   * Starts the background loop: at once and then every `pollMs`, it claims up to `claimBatch` due
   * sagas (unleased, or whose lease lapsed) and works them. Replaces calling `resumeAll()` at start-up.
   */
  start(): void;
  /**
   * Claims every saga due now (and those a previous process with this `owner` id left behind) and
   * starts them, all at once. Returns how many. Kept for callers that recover once at start-up;
   * `start()` does the same in bounded batches, and keeps doing it.
   */
  resumeAll(): Promise<number>;
  /**
   * Asks a running or completed saga to undo itself, from any process: a running saga's lease
   * owner sees the request at its next step boundary; one nobody holds is claimed and run here.
   * Returns false when it already ended otherwise.
   */
  cancel(id: string): Promise<boolean>;
  history(id: string): Promise<SagaHistoryEntry[]>;
  status(id: string): Promise<{ status: SagaStatus; reason: string | null } | null>;
  /**
   * Stops claiming, lets the executions in flight reach a step boundary (or finish), then releases
   * this process's leases so another process takes its sagas over at once.
   */
  stop(): Promise<void>;
}

// Each definition has its own data type; the runner only moves data between a definition's own steps.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySagaDefinition = SagaDefinition<any>;

export interface SagaRunnerDeps {
  db: Database;
  logger: Logger;
  definitions: readonly AnySagaDefinition[];
  /** First delay between a step's attempts, growing exponentially with jitter. Default 100 ms. */
  retryBaseMs?: number;
  /** Called after a saga's final transaction commits (its onCompleted/onFailed may have appended events). */
  afterSettled?: () => void;
  /**
   * This process's id, written as the lease owner of the sagas it works. Must be unique among live
   * processes; a restarted process that keeps its id takes its own sagas back in `resumeAll()` at
   * once instead of after their leases lapse. Default: a random UUID.
   */
  owner?: string;
  /**
   * How long a claim holds without a heartbeat. Heartbeats extend it every leaseMs/3, so a process
   * that dies or freezes loses its sagas to the survivors within leaseMs + pollMs. Default 15 000 ms.
   */
  leaseMs?: number;
  /** How often `start()`'s loop looks for due work. Default 1 000 ms. */
  pollMs?: number;
  /** The most sagas one poll claims. Default 100. */
  claimBatch?: number;
}

/**
 * Why this process lets go of a saga it was working: the fence refused a move (the lease lapsed or
 * passed on), a heartbeat found the lease gone, or the runner is stopping. Its next owner reruns the
 * step in progress.
 */
class LetGo extends Error {
  readonly why: 'fenced' | 'lost' | 'stopping';
  constructor(why: LetGo['why'], sagaId: string) {
    super(`saga ${sagaId}: ${why === 'fenced' ? 'the lease fence refused the move' : why === 'lost' ? 'its lease is gone' : 'the runner is stopping'}`);
    this.why = why;
  }
}

function validated(deps: SagaRunnerDeps) {
  const o = {
    retryBaseMs: deps.retryBaseMs ?? 100,
    owner: deps.owner ?? randomUUID(),
    leaseMs: deps.leaseMs ?? 15_000,
    pollMs: deps.pollMs ?? 1_000,
    claimBatch: deps.claimBatch ?? 100,
  };
  for (const key of ['leaseMs', 'pollMs', 'claimBatch'] as const) {
    if (!(Number.isSafeInteger(o[key]) && o[key] >= 1)) throw new RangeError(`saga runner: ${key} must be an integer ≥ 1, got ${o[key]}`);
  }
  if (!(Number.isFinite(o.retryBaseMs) && o.retryBaseMs >= 0)) throw new RangeError(`saga runner: retryBaseMs must be ≥ 0, got ${o.retryBaseMs}`);
  if (o.owner.length === 0) throw new RangeError('saga runner: owner must not be empty');
  return Object.freeze(o);
}

/**
 * Runs sagas whose state is persisted after every step: a crash at any point resumes from the
 * last recorded step, and steps are keyed by saga and step so a rerun does nothing twice.
 *
 * Many processes share one database safely: a process works a saga only under its lease, and a
 * step's outcome commits only while that lease holds (the fence), so when a lease lapses mid-step
 * and a survivor reruns the step, only one of the two completions commits. The step's outside
 * effect can still happen twice, which its `<saga>:<step>` idempotency key absorbs.
 */
export function createSagaRunner(deps: SagaRunnerDeps): SagaRunner {
  const { db, logger } = deps;
  const o = validated(deps);
  const definitions = new Map(deps.definitions.map((d) => [d.type, d as unknown as SagaDefinition<unknown>]));
  const leases = createSagaLeases(db, o.owner, o.leaseMs, [...definitions.keys()]);
  const executing = new Map<string, Execution>();
  const waker = createWaker();
  let stopped = false;
  let polling: Promise<void> | undefined;
  const heartbeat = createHeartbeat({ leases, executing, everyMs: Math.max(1, Math.floor(o.leaseMs / 3)), logger, owner: o.owner });

  const record = (tx: Queryable, id: string, step: string, phase: SagaHistoryEntry['phase'], outcome: string) =>
    tx.query('insert into saga.history (saga_id, step, phase, outcome) values ($1, $2, $3, $4)', [id, step, phase, outcome]);

  async function load(id: string): Promise<InstanceRow | null> {
    const { rows } = await db.query<InstanceRow>('select id, type, status, step, data, reason, cancel_requested from saga.instances where id = $1', [id]);
    return rows[0] ?? null;
  }

  /**
   * Moves the saga, fenced by this process's lease: no row matches once the lease lapsed or passed
   * on, and the caller's transaction then rolls back with everything else it wrote. Run it first
   * in a transaction, so nothing else is even attempted without the lease. A final state lets go
   * of the lease.
   */
  async function save(tx: Queryable, row: InstanceRow, to: SagaStatus, changes: Partial<InstanceRow>): Promise<void> {
    if (to !== row.status && !canMove(row.status, to)) throw new Error(`saga ${row.id}: ${row.status} → ${to} is not a legal move`);
    const next = { ...row, ...changes, status: to };
    const unfinished = to === 'running' || to === 'compensating';
    const { rowCount } = await tx.query(
      `update saga.instances set status = $2, step = $3, data = $4, reason = $5, updated_at = now()
         ${unfinished ? '' : ', lease_owner = null, lease_expires_at = null'}
       where id = $1 and lease_owner = $6 and lease_expires_at > clock_timestamp()`,
      [next.id, next.status, next.step, JSON.stringify(next.data), next.reason, o.owner],
    );
    if (rowCount === 0) throw new LetGo('fenced', row.id);
    Object.assign(row, next);
  }

  /** Sleeps between attempts; a stop or a lost lease ends the attempts: the step's next owner reruns it. */
  async function backoff(execution: Execution, n: number, maxMs: number, id: string): Promise<void> {
    const check = () => {
      if (execution.lost) throw new LetGo('lost', id);
      if (stopped) throw new LetGo('stopping', id);
    };
    check();
    await waker.sleep(backoffDelay(n, o.retryBaseMs, maxMs));
    check();
  }

  async function runStep(definition: SagaDefinition<unknown>, row: InstanceRow, execution: Execution): Promise<void> {
    const step = definition.steps[row.step]!;
    const attempts = step.attempts ?? 3;
    // Whether any failed attempt may have reached the dependency (only a refusal before sending is sure not to).
    let mayHaveLanded = false;
    for (let n = 1; ; n++) {
      try {
        const result = (await attempt(step, row.data, row.id, n, 'run')) as StepResult<unknown>;
        if (result.ok) {
          const data = { ...(row.data as object), ...result.data };
          const last = row.step === definition.steps.length - 1;
          if (last) execution.held = false;
          await db.transaction(async (tx) => {
            await save(tx, row, last ? 'completed' : 'running', { step: last ? row.step : row.step + 1, data });
            await record(tx, row.id, step.name, 'run', 'ok');
            if (last) await definition.onCompleted(tx, row.id, row.data);
          });
          if (last) deps.afterSettled?.();
        } else {
          // A definite refusal: this step took no effect, so compensation starts with the one before.
          await db.transaction(async (tx) => {
            await save(tx, row, 'compensating', { step: row.step - 1, reason: result.reason });
            await record(tx, row.id, step.name, 'run', result.reason);
          });
        }
        return;
      } catch (error) {
        if (error instanceof LetGo) throw error;
        const message = error instanceof Error ? error.message : String(error);
        if (!(error instanceof DependencyUnavailableError && error.notSent)) mayHaveLanded = true;
        if (n < attempts) {
          logger.warn({ sagaId: row.id, step: step.name, attempt: n, err: message }, 'saga step failed; retrying');
          await backoff(execution, n, 5_000, row.id);
          continue;
        }
        // The outcome is unknown (a call may have landed), so this step is compensated too; when every
        // attempt was refused before it was sent (a full bulkhead, an open circuit) it took no
        // effect, and compensating it would only send more calls to a dependency already refusing them.
        await db.transaction(async (tx) => {
          await save(tx, row, 'compensating', mayHaveLanded ? { reason: step.unavailableReason } : { step: row.step - 1, reason: step.unavailableReason });
          await record(tx, row.id, step.name, 'run', step.unavailableReason);
        });
        return;
      }
    }
  }

  async function compensateStep(definition: SagaDefinition<unknown>, row: InstanceRow, execution: Execution): Promise<void> {
    const step = definition.steps[row.step]!;
    // Compensations must finish: they retry until they do, with capped backoff.
    for (let n = 1; ; n++) {
      try {
        await attempt(step, row.data, row.id, n, 'compensate');
        break;
      } catch (error) {
        logger.warn({ sagaId: row.id, step: step.name, attempt: n, err: error instanceof Error ? error.message : String(error) }, 'compensation failed; retrying');
        await backoff(execution, n, 10_000, row.id);
      }
    }
    await db.transaction(async (tx) => {
      await save(tx, row, 'compensating', { step: row.step - 1 });
      if (step.compensate) await record(tx, row.id, step.name, 'compensate', 'ok');
    });
  }

  async function finishFailed(definition: SagaDefinition<unknown>, row: InstanceRow, execution: Execution): Promise<void> {
    const reason = row.reason ?? 'FAILED';
    execution.held = false;
    await db.transaction(async (tx) => {
      await save(tx, row, reason === CANCELLED ? 'cancelled' : 'failed', {});
      await record(tx, row.id, '-', 'status', row.status);
      await definition.onFailed(tx, row.id, row.data, reason);
    });
    deps.afterSettled?.();
  }

  /** Works a saga whose lease this process holds, one step per transaction, until it ends or must let go. */
  async function execute(id: string, execution: Execution): Promise<void> {
    const row = await load(id);
    if (!row) return;
    const definition = definitions.get(row.type);
    if (!definition) throw new Error(`no saga definition for type ${row.type}`);
    while (!stopped && !execution.lost) {
      if (row.status === 'running') {
        const fresh = await load(id);
        if (fresh?.cancel_requested) {
          await db.transaction((tx) => save(tx, row, 'compensating', { step: row.step - 1, reason: CANCELLED }));
          continue;
        }
        await runStep(definition, row, execution);
      } else if (row.status === 'compensating') {
        if (row.step >= 0) await compensateStep(definition, row, execution);
        else await finishFailed(definition, row, execution);
      } else {
        return;
      }
    }
  }

  /** Starts an execution here, after `claim` (when given) wins the lease. One per saga per process. */
  function launch(id: string, claim?: () => Promise<boolean>): Promise<void> {
    const inFlight = executing.get(id);
    if (inFlight) return inFlight.done;
    const execution: Execution = { done: Promise.resolve(), held: false, lost: false };
    execution.done = (async () => {
      if (claim && !(await claim())) return;
      execution.held = true;
      heartbeat.start();
      await execute(id, execution);
    })()
      .catch((error: unknown) => {
        if (error instanceof LetGo) {
          // A fenced move is worth a warning (this process was too slow or cut off); a stop is routine.
          logger[error.why === 'stopping' ? 'info' : 'warn']({ sagaId: id, owner: o.owner, why: error.why }, 'saga left to its next lease owner');
        } else logger.error({ sagaId: id, err: error instanceof Error ? error.message : String(error) }, 'saga execution stopped; it resumes once its lease lapses');
      })
      .finally(() => executing.delete(id));
    executing.set(id, execution);
    return execution.done;
  }

  async function claimDue(limit: number, reclaimMine = false): Promise<string[]> {
    const ids = await leases.claimDue(limit, { reclaimMine, executing: [...executing.keys()] });
    for (const id of ids) void launch(id);
    return ids;
  }

  /** Claims a bounded batch every pollMs, so the processes of a fleet share out what is due. */
  async function poll(): Promise<void> {
    // The first poll also takes back what a previous process with this owner id left behind.
    for (let first = true; !stopped; first = false) {
      // stop() during a claim ends the loop now, not a poll interval later.
      const seen = waker.seen();
      try {
        const ids = await claimDue(o.claimBatch, first);
        if (ids.length > 0) logger.info({ owner: o.owner, claimed: ids.length }, 'claimed due sagas');
      } catch (error) {
        logger.warn({ owner: o.owner, err: error instanceof Error ? error.message : String(error) }, 'saga poll failed; retrying');
      }
      await waker.sleep(o.pollMs, seen);
    }
  }

  function run(id: string): Promise<void> {
    if (stopped) return Promise.resolve();
    return launch(id, () => leases.claim(id));
  }

  async function resumeAll(): Promise<number> {
    let total = 0;
    while (!stopped) {
      const ids = await claimDue(o.claimBatch, true);
      total += ids.length;
      if (ids.length < o.claimBatch) break;
    }
    return total;
  }

  return {
    async begin(tx, type, id, data) {
      if (!definitions.has(type)) throw new Error(`no saga definition for type ${type}`);
      // Leased to this process from the start, so a poller elsewhere leaves it to `run(id)`; a
      // stopped runner leaves it free for another process instead.
      await tx.query(
        `insert into saga.instances (id, type, status, data, lease_owner, lease_expires_at)
         values ($1, $2, 'running', $3, $4, case when $4::text is null then null else clock_timestamp() + $5::int * interval '1 millisecond' end)`,
        [id, type, JSON.stringify(data), stopped ? null : o.owner, o.leaseMs],
      );
      await record(tx, id, '-', 'status', 'running');
    },
    run,
    start() {
      if (stopped || polling) return;
      polling = poll();
    },
    resumeAll,
    async cancel(id) {
      const outcome = await db.transaction(async (tx): Promise<'no' | 'flagged' | 'run'> => {
        const { rows } = await tx.query<InstanceRow>('select id, type, status, step, data, reason, cancel_requested from saga.instances where id = $1 for update', [id]);
        const row = rows[0];
        if (!row) return 'no';
        if (row.status === 'running') {
          await tx.query('update saga.instances set cancel_requested = true where id = $1', [id]);
          // Nobody holds it (its process died, say): this process claims it and compensates it itself.
          return !stopped && definitions.has(row.type) && (await leases.claim(id, tx)) ? 'run' : 'flagged';
        }
        if (row.status === 'completed') {
          const definition = definitions.get(row.type);
          if (!definition) throw new Error(`no saga definition for type ${row.type}`);
          // A completed saga has no lease; take one to move it, fenced like every move.
          await tx.query(`update saga.instances set lease_owner = $2, lease_expires_at = clock_timestamp() + $3::int * interval '1 millisecond' where id = $1`, [id, o.owner, o.leaseMs]);
          await save(tx, row, 'compensating', { step: definition.steps.length - 1, reason: CANCELLED });
          await record(tx, id, '-', 'status', 'cancelling');
          if (stopped) await tx.query('update saga.instances set lease_owner = null, lease_expires_at = null where id = $1', [id]);
          return 'run';
        }
        return 'no';
      });
      if (outcome === 'run') void run(id);
      return outcome !== 'no';
    },
    async history(id) {
      const { rows } = await db.query<{ step: string; phase: SagaHistoryEntry['phase']; outcome: string; at: Date | string }>(
        'select step, phase, outcome, at from saga.history where saga_id = $1 order by seq',
        [id],
      );
      return rows.map((r) => ({ step: r.step, phase: r.phase, outcome: r.outcome, at: new Date(r.at).toISOString() }));
    },
    async status(id) {
      const row = await load(id);
      return row ? { status: row.status, reason: row.reason } : null;
    },
    async stop() {
      stopped = true;
      waker.wake();
      await polling;
      await Promise.allSettled([...executing.values()].map((execution) => execution.done));
      heartbeat.stop();
      const released = await leases.releaseAll().catch((error: unknown) => {
        logger.warn({ owner: o.owner, err: error instanceof Error ? error.message : String(error) }, 'could not release saga leases; they lapse on their own');
        return 0;
      });
      if (released > 0) logger.info({ owner: o.owner, released }, 'released saga leases');
    },
  };
}
