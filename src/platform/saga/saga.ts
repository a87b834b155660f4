import type { Queryable } from '../db/database.ts';

/** A step's business answer. A thrown error is not an answer: it is retried as transient. */
export type StepResult<D> = { ok: true; data?: Partial<D> } | { ok: false; reason: string };

export interface StepContext {
  sagaId: string;
  /** `<saga id>:<step name>`: the key a step passes to whatever it calls, so a rerun is harmless. */
  idempotencyKey: string;
  attempt: number;
  /** Aborted when the step's timeout passes. */
  signal: AbortSignal;
}

export interface SagaStep<D> {
  name: string;
  run(data: D, context: StepContext): Promise<StepResult<D>>;
  /** Undoes the step; must be idempotent and harmless when the step never took effect. */
  compensate?(data: D, context: StepContext): Promise<void>;
  /** Attempts for transient failures before the saga gives up and compensates. Default 3. */
  attempts?: number;
  /** Per attempt. Default 10 s. */
  timeoutMs?: number;
  /** The failure reason when every attempt failed transiently, e.g. PAYMENT_UNAVAILABLE. */
  unavailableReason: string;
}

export interface SagaDefinition<D> {
  type: string;
  steps: readonly SagaStep<D>[];
  /** Runs in the transaction that marks the saga completed. */
  onCompleted(tx: Queryable, sagaId: string, data: D): Promise<void>;
  /** Runs in the transaction that marks the saga failed or cancelled, after every compensation. */
  onFailed(tx: Queryable, sagaId: string, data: D, reason: string): Promise<void>;
}

/** States and the moves between them: the runner refuses any move this table does not list (`canMove`). */
export const SAGA_TRANSITIONS = {
  running: ['completed', 'compensating'],
  compensating: ['failed', 'cancelled'],
  completed: ['compensating'],
  failed: [],
  cancelled: [],
} as const satisfies Record<string, readonly string[]>;

export type SagaStatus = keyof typeof SAGA_TRANSITIONS;

export function canMove(from: SagaStatus, to: SagaStatus): boolean {
  return (SAGA_TRANSITIONS[from] as readonly string[]).includes(to);
}

/** The failure reason a cancellation records. */
export const CANCELLED = 'CANCELLED';

export interface SagaHistoryEntry {
  step: string;
  phase: 'run' | 'compensate' | 'status';
  outcome: string;
  at: string;
}
