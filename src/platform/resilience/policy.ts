import {
  BrokenCircuitError,
  BulkheadRejectedError,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  IsolatedCircuitError,
  TaskCancelledError,
  TimeoutStrategy,
  bulkhead,
  circuitBreaker,
  fullJitterGenerator,
  handleType,
  handleWhen,
  retry,
  timeout,
} from 'cockatiel';
import { DependencyUnavailableError } from './dependency-error.ts';

/** How one outside dependency is called. Every field is optional; defaults are below. */
export interface DependencyPolicyOptions {
  /** Each attempt is abandoned after this long (its signal is aborted). Default 2000 ms. */
  timeoutMs?: number;
  /** Calls in total, the first included; 1 disables retries. Default 3. */
  attempts?: number;
  /** First retry delay before jitter; later ones grow exponentially. Default 50 ms. */
  initialDelayMs?: number;
  /** Cap on any retry delay. Default 1000 ms. */
  maxDelayMs?: number;
  /** Consecutive failed attempts that open the circuit. Default 5. */
  breakAfter?: number;
  /** How long an open circuit fails fast before letting one trial call through. Default 5000 ms. */
  halfOpenAfterMs?: number;
  /**
   * Bulkhead: calls to the dependency running at once, retries and their backoff included, so a
   * slow dependency holds no more than this share of the caller. Default Infinity (no bulkhead).
   */
  maxConcurrent?: number;
  /** Calls waiting for a slot once `maxConcurrent` run; one more is refused at once. Default 0. */
  maxQueued?: number;
  /** Told the circuit's state and each call the open circuit refused (metrics); none by default. */
  observer?: DependencyObserver;
  /**
   * Refusals before sending (a full bulkhead, a circuit open at the first attempt) carry
   * `notSent`: for a policy whose call is the callee's whole operation (a contract client), so the
   * caller knows there is nothing to undo. Not for one a module calls after doing work of its own
   * (a provider behind a module's pending row): that work still needs undoing. Default false.
   */
  notSentOnRefusal?: boolean;
}

/** What a policy reports about itself, e.g. to `/metrics` (see createDependencyMetrics). */
export interface DependencyObserver {
  /** Once, when the policy is made: how to read its circuit's state and its bulkhead's load at any time. */
  watch(name: string, policy: Pick<DependencyPolicy, 'state' | 'load'>): void;
  /**
   * A call refused by the circuit on its first attempt, how long the refusal took, and the state
   * the call found: 'open' (refused at once) or 'half-open' (it waited for the trial in flight,
   * cockatiel's way, and was refused when the trial failed).
   */
  refused(name: string, seconds: number, found: Exclude<CircuitStateName, 'closed'>): void;
  /** A call the full bulkhead refused (`maxConcurrent` running and `maxQueued` waiting). */
  shed(name: string): void;
}

/** Calls inside the bulkhead now: holding a slot (attempts and backoff), and waiting for one. */
export interface BulkheadLoad {
  running: number;
  queued: number;
}

type PolicySettings = Required<Omit<DependencyPolicyOptions, 'observer'>>;

export const defaultDependencyPolicy: Readonly<PolicySettings> = Object.freeze({
  timeoutMs: 2_000,
  attempts: 3,
  initialDelayMs: 50,
  maxDelayMs: 1_000,
  breakAfter: 5,
  halfOpenAfterMs: 5_000,
  maxConcurrent: Infinity,
  maxQueued: 0,
  notSentOnRefusal: false,
});

export type CircuitStateName = 'closed' | 'open' | 'half-open';

/** Per call. */
export interface ExecuteOptions {
  /**
   * False for a call that must not be repeated (a write that is not idempotent): one attempt,
   * still under the timeout, breaker and bulkhead. Default true.
   */
  retry?: boolean;
}

export interface DependencyPolicy {
  readonly name: string;
  /**
   * Runs `fn` inside the bulkhead, with a per-attempt timeout, retries on DependencyUnavailableError,
   * behind the circuit breaker. Timeouts, an open circuit, a full bulkhead and exhausted retries
   * all reject with DependencyUnavailableError (the original error as `cause`); any other error
   * from `fn` is a definite answer and passes through untouched, without a retry.
   * `fn` must stop its work when `signal` aborts: a timed-out attempt is abandoned, not awaited.
   */
  execute<T>(fn: (signal: AbortSignal) => Promise<T>, options?: ExecuteOptions): Promise<T>;
  /** 'half-open' once the open period is over: the next call is the trial. */
  state(): CircuitStateName;
  load(): BulkheadLoad;
}

/**
 * Composition, outermost first: bulkhead → retry → circuit breaker → timeout. The breaker sits
 * inside the retry so every attempt counts towards opening it, and an open circuit stops the
 * retries at once instead of spending the backoff on calls that cannot succeed. The bulkhead is
 * outermost so that a call holds one slot for all its attempts: a retry storm cannot exceed it,
 * and a refusal is never retried.
 */
export function createDependencyPolicy(name: string, options: DependencyPolicyOptions = {}): DependencyPolicy {
  const { observer, ...settings } = options;
  const o = validate(name, { ...defaultDependencyPolicy, ...stripUndefined(settings) });
  const perAttempt = timeout(o.timeoutMs, TimeoutStrategy.Aggressive);
  const breaker = circuitBreaker(handleType(DependencyUnavailableError), {
    halfOpenAfter: o.halfOpenAfterMs,
    breaker: new ConsecutiveBreaker(o.breakAfter),
  });
  const retries = retry(
    handleWhen((error) => error instanceof DependencyUnavailableError && !isCircuitRefusal(error)),
    // cockatiel counts retries, not calls; its default generator is decorrelated jitter.
    // Full jitter: a delay drawn from [0, min(max, initial × 2^n)), as backoff.ts does for workers.
    { maxAttempts: o.attempts - 1, backoff: new ExponentialBackoff({ generator: fullJitterGenerator, initialDelay: o.initialDelayMs, maxDelay: o.maxDelayMs }) },
  );
  const slots = bulkhead(o.maxConcurrent, o.maxQueued);
  // Counted here rather than read off cockatiel's free slots, which an unbounded bulkhead does not have.
  let entered = 0;
  let running = 0;
  // cockatiel only moves open → half-open on the next call; remember when it opened to tell.
  let openedAt = 0;
  breaker.onBreak(() => (openedAt = Date.now()));

  /** `seen.state`: the breaker's state as the attempt entered it (cockatiel decides in that same tick). */
  const attempt = async <T>(fn: (signal: AbortSignal) => Promise<T>, seen: { state?: CircuitState }): Promise<T> => {
    try {
      seen.state = breaker.state;
      return await breaker.execute(() =>
        perAttempt.execute(async ({ signal }) => {
          try {
            return await fn(signal);
          } catch (error) {
            // The timer aborted the signal and fn rejected with its abort error: still a timeout.
            if (signal.aborted && !(error instanceof DependencyUnavailableError)) throw timedOut(name, o.timeoutMs, error);
            throw error;
          }
        }).catch((error: unknown) => {
          // Mapped inside the breaker, so a hung dependency counts as a failure towards opening it.
          throw error instanceof TaskCancelledError ? timedOut(name, o.timeoutMs, error) : error;
        }),
      );
    } catch (error) {
      if (error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError) {
        throw new DependencyUnavailableError(name, 'circuit open, failing fast', { cause: error, notSent: o.notSentOnRefusal });
      }
      throw error;
    }
  };

  const policy: DependencyPolicy = {
    name,
    async execute(fn, options) {
      let calls = 0;
      const started = observer ? performance.now() : 0;
      const seen: { state?: CircuitState } = {};
      const attempts = () => (options?.retry === false ? (calls++, attempt(fn, seen)) : retries.execute(() => (calls++, attempt(fn, seen))));
      entered++;
      try {
        return await slots.execute(async () => {
          running++;
          try {
            return await attempts();
          } finally {
            running--;
          }
        });
      } catch (error) {
        if (error instanceof BulkheadRejectedError) {
          observer?.shed(name);
          throw new DependencyUnavailableError(name, `bulkhead full (${o.maxConcurrent} running, ${o.maxQueued} queued), failing fast`, { cause: error, notSent: o.notSentOnRefusal });
        }
        // A circuit that opened under later attempts refused only the last: the earlier ones may have landed.
        if (error instanceof DependencyUnavailableError && error.notSent && calls > 1) {
          throw new DependencyUnavailableError(name, `gave up after ${calls} attempts: ${error.message}`, { cause: error });
        }
        if (error instanceof DependencyUnavailableError && calls > 1 && !isCircuitRefusal(error)) {
          throw new DependencyUnavailableError(name, `gave up after ${calls} attempts: ${error.message}`, { cause: error });
        }
        // A call made while the circuit was not closed: how fast failing fast is.
        if (observer && calls === 1 && error instanceof DependencyUnavailableError && isCircuitRefusal(error)) {
          observer.refused(name, (performance.now() - started) / 1000, seen.state === CircuitState.HalfOpen ? 'half-open' : 'open');
        }
        throw error;
      } finally {
        entered--;
      }
    },
    load: () => ({ running, queued: entered - running }),
    state() {
      switch (breaker.state) {
        case CircuitState.Closed:
          return 'closed';
        case CircuitState.HalfOpen:
          return 'half-open';
        case CircuitState.Open:
          return Date.now() - openedAt >= o.halfOpenAfterMs ? 'half-open' : 'open';
        default:
          return 'open';
      }
    },
  };
  observer?.watch(name, policy);
  return policy;
}

function timedOut(name: string, ms: number, cause: unknown): DependencyUnavailableError {
  return new DependencyUnavailableError(name, `no answer within ${ms} ms`, { cause });
}

function isCircuitRefusal(error: DependencyUnavailableError): boolean {
  return error.cause instanceof BrokenCircuitError || error.cause instanceof IsolatedCircuitError;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function validate(name: string, o: PolicySettings): PolicySettings {
  const positive = ['timeoutMs', 'maxDelayMs', 'halfOpenAfterMs'] as const;
  for (const key of positive) {
    if (!(Number.isFinite(o[key]) && o[key] > 0)) throw new RangeError(`${name} policy: ${key} must be a positive number, got ${o[key]}`);
  }
  if (!(o.maxConcurrent === Infinity || (Number.isSafeInteger(o.maxConcurrent) && o.maxConcurrent >= 1))) throw new RangeError(`${name} policy: maxConcurrent must be an integer ≥ 1 or Infinity, got ${o.maxConcurrent}`);
  if (!(Number.isSafeInteger(o.maxQueued) && o.maxQueued >= 0)) throw new RangeError(`${name} policy: maxQueued must be an integer ≥ 0, got ${o.maxQueued}`);
  if (!(Number.isFinite(o.initialDelayMs) && o.initialDelayMs >= 0)) throw new RangeError(`${name} policy: initialDelayMs must be ≥ 0, got ${o.initialDelayMs}`);
  for (const key of ['attempts', 'breakAfter'] as const) {
    if (!(Number.isSafeInteger(o[key]) && o[key] >= 1)) throw new RangeError(`${name} policy: ${key} must be an integer ≥ 1, got ${o[key]}`);
  }
  return Object.freeze({ ...o });
}
