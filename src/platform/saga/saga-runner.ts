import type { Logger } from 'pino';
import type { Database, Queryable } from '../db/database.ts';
import { backoffDelay } from '../resilience/backoff.ts';
import { canMove, CANCELLED, type SagaDefinition, type SagaHistoryEntry, type SagaStatus, type SagaStep, type StepResult } from './saga.ts';

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
  /** Records a new saga in the caller's transaction; call `run(id)` after the commit. */
  begin(tx: Queryable, type: string, id: string, data: unknown): Promise<void>;
  /** Drives a saga until it completes or fails; safe to call twice (one execution per process). */
  run(id: string): Promise<void>;
  /** Resumes every unfinished saga: the start-up recovery after a crash. Returns how many. */
  resumeAll(): Promise<number>;
  /** Asks a running or completed saga to undo itself. Returns false when it already ended otherwise. */
  cancel(id: string): Promise<boolean>;
  history(id: string): Promise<SagaHistoryEntry[]>;
  status(id: string): Promise<{ status: SagaStatus; reason: string | null } | null>;
  /** Waits for the executions in flight, and starts no new ones. */
  stop(): Promise<void>;
}

/** Every attempt of a step runs under a timeout; a step that overruns counts as a transient failure. */
async function attempt<D>(step: SagaStep<D>, data: D, sagaId: string, n: number, run: 'run' | 'compensate'): Promise<StepResult<D> | void> {
  const controller = new AbortController();
  const timeoutMs = step.timeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`${step.name} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
  });
  const context = { sagaId, idempotencyKey: `${sagaId}:${step.name}`, attempt: n, signal: controller.signal };
  try {
    const work = run === 'run' ? step.run(data, context) : (step.compensate?.(data, context) ?? Promise.resolve());
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs sagas whose state is persisted after every step: a crash at any point resumes from the
 * last recorded step, and steps are keyed by saga and step so a rerun does nothing twice.
 */
// Each definition has its own data type; the runner only moves data between a definition's own steps.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySagaDefinition = SagaDefinition<any>;

export interface SagaRunnerDeps {
  db: Database;
  logger: Logger;
  definitions: readonly AnySagaDefinition[];
  retryBaseMs?: number;
  /** Called after a saga's final transaction commits (its onCompleted/onFailed may have appended events). */
  afterSettled?: () => void;
}

export function createSagaRunner(deps: SagaRunnerDeps): SagaRunner {
  const { db, logger } = deps;
  const definitions = new Map(deps.definitions.map((d) => [d.type, d as unknown as SagaDefinition<unknown>]));
  const executing = new Map<string, Promise<void>>();
  const retryBaseMs = deps.retryBaseMs ?? 100;
  let stopped = false;

  const record = (tx: Queryable, id: string, step: string, phase: SagaHistoryEntry['phase'], outcome: string) =>
    tx.query('insert into saga.history (saga_id, step, phase, outcome) values ($1, $2, $3, $4)', [id, step, phase, outcome]);

  async function load(id: string): Promise<InstanceRow | null> {
    const { rows } = await db.query<InstanceRow>('select id, type, status, step, data, reason, cancel_requested from saga.instances where id = $1', [id]);
    return rows[0] ?? null;
  }

  async function save(tx: Queryable, row: InstanceRow, to: SagaStatus, changes: Partial<InstanceRow>): Promise<void> {
    if (to !== row.status && !canMove(row.status, to)) throw new Error(`saga ${row.id}: ${row.status} → ${to} is not a legal move`);
    Object.assign(row, changes, { status: to });
    await tx.query('update saga.instances set status = $2, step = $3, data = $4, reason = $5, updated_at = now() where id = $1', [
      row.id, row.status, row.step, JSON.stringify(row.data), row.reason,
    ]);
  }

  async function runStep(definition: SagaDefinition<unknown>, row: InstanceRow): Promise<void> {
    const step = definition.steps[row.step]!;
    const attempts = step.attempts ?? 3;
    for (let n = 1; ; n++) {
      try {
        const result = (await attempt(step, row.data, row.id, n, 'run')) as StepResult<unknown>;
        if (result.ok) {
          const data = { ...(row.data as object), ...result.data };
          const last = row.step === definition.steps.length - 1;
          await db.transaction(async (tx) => {
            await record(tx, row.id, step.name, 'run', 'ok');
            await save(tx, row, last ? 'completed' : 'running', { step: last ? row.step : row.step + 1, data });
            if (last) await definition.onCompleted(tx, row.id, row.data);
          });
          if (last) deps.afterSettled?.();
        } else {
          // A definite refusal: this step took no effect, so compensation starts with the one before.
          await db.transaction(async (tx) => {
            await record(tx, row.id, step.name, 'run', result.reason);
            await save(tx, row, 'compensating', { step: row.step - 1, reason: result.reason });
          });
        }
        return;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (n < attempts) {
          logger.warn({ sagaId: row.id, step: step.name, attempt: n, err: message }, 'saga step failed; retrying');
          await new Promise((r) => setTimeout(r, backoffDelay(n, retryBaseMs, 5_000)));
          continue;
        }
        // The outcome is unknown (the call may have landed), so this step is compensated too.
        await db.transaction(async (tx) => {
          await record(tx, row.id, step.name, 'run', step.unavailableReason);
          await save(tx, row, 'compensating', { reason: step.unavailableReason });
        });
        return;
      }
    }
  }

  async function compensateStep(definition: SagaDefinition<unknown>, row: InstanceRow): Promise<void> {
    const step = definition.steps[row.step]!;
    // Compensations must finish: they retry until they do, with capped backoff.
    for (let n = 1; ; n++) {
      try {
        await attempt(step, row.data, row.id, n, 'compensate');
        break;
      } catch (error) {
        logger.warn({ sagaId: row.id, step: step.name, attempt: n, err: error instanceof Error ? error.message : String(error) }, 'compensation failed; retrying');
        if (stopped) throw error;
        await new Promise((r) => setTimeout(r, backoffDelay(n, retryBaseMs, 10_000)));
      }
    }
    await db.transaction(async (tx) => {
      if (step.compensate) await record(tx, row.id, step.name, 'compensate', 'ok');
      await save(tx, row, 'compensating', { step: row.step - 1 });
    });
  }

  async function finishFailed(definition: SagaDefinition<unknown>, row: InstanceRow): Promise<void> {
    const reason = row.reason ?? 'FAILED';
    await db.transaction(async (tx) => {
      await save(tx, row, reason === CANCELLED ? 'cancelled' : 'failed', {});
      await record(tx, row.id, '-', 'status', row.status);
      await definition.onFailed(tx, row.id, row.data, reason);
    });
    deps.afterSettled?.();
  }

  async function execute(id: string): Promise<void> {
    const row = await load(id);
    if (!row) return;
    const definition = definitions.get(row.type);
    if (!definition) throw new Error(`no saga definition for type ${row.type}`);
    while (!stopped) {
      if (row.status === 'running') {
        const fresh = await load(id);
        if (fresh?.cancel_requested) {
          await db.transaction((tx) => save(tx, row, 'compensating', { step: row.step - 1, reason: CANCELLED }));
          continue;
        }
        await runStep(definition, row);
      } else if (row.status === 'compensating') {
        if (row.step >= 0) await compensateStep(definition, row);
        else await finishFailed(definition, row);
      } else {
        return;
      }
    }
  }

  function run(id: string): Promise<void> {
    if (stopped) return Promise.resolve();
    const inFlight = executing.get(id);
    if (inFlight) return inFlight;
    const execution = execute(id)
      .catch((error: unknown) => logger.error({ sagaId: id, err: error instanceof Error ? error.message : String(error) }, 'saga execution stopped; it resumes on the next start'))
      .finally(() => executing.delete(id));
    executing.set(id, execution);
    return execution;
  }

  return {
    async begin(tx, type, id, data) {
      if (!definitions.has(type)) throw new Error(`no saga definition for type ${type}`);
      await tx.query(`insert into saga.instances (id, type, status, data) values ($1, $2, 'running', $3)`, [id, type, JSON.stringify(data)]);
      await record(tx, id, '-', 'status', 'running');
    },
    run,
    async resumeAll() {
      const { rows } = await db.query<{ id: string }>(`select id from saga.instances where status in ('running', 'compensating') order by created_at`);
      for (const { id } of rows) void run(id);
      return rows.length;
    },
    async cancel(id) {
      const cancelled = await db.transaction(async (tx) => {
        const { rows } = await tx.query<InstanceRow>('select id, type, status, step, data, reason, cancel_requested from saga.instances where id = $1 for update', [id]);
        const row = rows[0];
        if (!row) return false;
        if (row.status === 'running') {
          await tx.query('update saga.instances set cancel_requested = true where id = $1', [id]);
          return true;
        }
        if (row.status === 'completed') {
          await save(tx, row, 'compensating', { step: definitions.get(row.type)!.steps.length - 1, reason: CANCELLED });
          await record(tx, id, '-', 'status', 'cancelling');
          return true;
        }
        return false;
      });
      if (cancelled) void run(id);
      return cancelled;
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
      await Promise.allSettled([...executing.values()]);
    },
  };
}
