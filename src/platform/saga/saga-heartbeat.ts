import type { Logger } from 'pino';
import type { SagaLeases } from './saga-leases.ts';

/** What the heartbeat knows of one execution in this process. */
export interface Execution {
  done: Promise<void>;
  /** True once this process holds the lease; until then the heartbeat leaves it alone. */
  held: boolean;
  /** Set when a heartbeat found the lease gone: the execution abandons at its next boundary. */
  lost: boolean;
}

/**
 * One timer per runner extends, in one statement, the lease of every saga the runner works (while a
 * step's call is in flight, during retry backoff, between steps). A lease it no longer holds is
 * flagged `lost`, and its execution lets go at the next step boundary. It runs only while there
 * are executions, and stops by itself when there are none.
 */
export function createHeartbeat(deps: { leases: SagaLeases; executing: ReadonlyMap<string, Execution>; everyMs: number; logger: Logger; owner: string }) {
  const { leases, executing, logger, owner } = deps;
  let timer: NodeJS.Timeout | undefined;
  let beating = false;

  async function beat(): Promise<void> {
    if (beating) return;
    if (executing.size === 0) return stop();
    const held = [...executing].filter(([, execution]) => execution.held && !execution.lost);
    beating = true;
    try {
      const extended = await leases.extend(held.map(([id]) => id));
      for (const [id, execution] of held) {
        // `held` turns false before a final move, which lets go of the lease on purpose.
        if (extended.has(id) || !execution.held) continue;
        execution.lost = true;
        logger.warn({ sagaId: id, owner }, 'saga lease lost; letting go at the next step boundary');
      }
    } catch (error) {
      // The fence still guards every move; a lease that lapses meanwhile is simply taken over.
      logger.warn({ owner, err: error instanceof Error ? error.message : String(error) }, 'saga lease heartbeat failed');
    } finally {
      beating = false;
    }
  }

  function stop(): void {
    clearInterval(timer);
    timer = undefined;
  }

  return {
    start(): void {
      if (timer) return;
      timer = setInterval(() => void beat(), deps.everyMs);
      timer.unref();
    },
    stop,
  };
}
