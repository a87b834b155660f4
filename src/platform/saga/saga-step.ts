import type { SagaStep, StepResult } from './saga.ts';

/** Every attempt of a step runs under a timeout; a step that overruns counts as a transient failure. */
export async function attempt<D>(step: SagaStep<D>, data: D, sagaId: string, n: number, run: 'run' | 'compensate'): Promise<StepResult<D> | void> {
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
