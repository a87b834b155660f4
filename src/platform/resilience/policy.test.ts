import { BrokenCircuitError, BulkheadRejectedError } from 'cockatiel';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DependencyUnavailableError } from './dependency-error.ts';
import { createDependencyPolicy } from './policy.ts';

const fast = { initialDelayMs: 1, maxDelayMs: 2, timeoutMs: 50 };
const outage = () => new DependencyUnavailableError('test', 'down');

/** Resolves with what the promise rejected with; fails the test if it resolved. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => expect.fail(`expected a rejection, got ${String(value)}`),
    (error: unknown) => error,
  );
}

afterEach(() => void vi.useRealTimers());

describe('createDependencyPolicy', () => {
  it('returns the answer of a healthy call once', async () => {
    const policy = createDependencyPolicy('test', fast);
    const fn = vi.fn(async () => 42);
    expect(await policy.execute(fn)).toBe(42);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(policy.state()).toBe('closed');
  });

  it('retries a DependencyUnavailableError and returns the first success', async () => {
    const policy = createDependencyPolicy('test', fast);
    let calls = 0;
    const result = await policy.execute(async () => {
      if (++calls < 3) throw outage();
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(calls).toBe(3);
  });

  it('gives up after the configured attempts with DependencyUnavailableError carrying the last failure', async () => {
    const policy = createDependencyPolicy('test', { ...fast, attempts: 4 });
    const fn = vi.fn(async () => Promise.reject(outage()));
    const error = await rejection(policy.execute(fn));
    expect(fn).toHaveBeenCalledTimes(4);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as Error).message).toMatch(/gave up after 4 attempts/);
    expect((error as Error).cause).toBeInstanceOf(DependencyUnavailableError);
  });

  it('does not retry other errors: they are definite answers', async () => {
    const policy = createDependencyPolicy('test', fast);
    const bug = new TypeError('bad request');
    const fn = vi.fn(async () => Promise.reject(bug));
    expect(await rejection(policy.execute(fn))).toBe(bug);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('abandons a hung attempt after the timeout, aborting its signal, and retries it', async () => {
    const policy = createDependencyPolicy('test', { ...fast, attempts: 2 });
    const signals: AbortSignal[] = [];
    const hang = (signal: AbortSignal) => (signals.push(signal), new Promise<never>(() => {}));
    const error = await rejection(policy.execute(hang));
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as DependencyUnavailableError).dependency).toBe('test');
    expect(((error as Error).cause as Error).message).toMatch(/no answer within 50 ms/);
    expect(signals).toHaveLength(2);
    expect(signals.every((s) => s.aborted)).toBe(true);
  });

  it('opens after consecutive failures, then fails fast without calling', async () => {
    const policy = createDependencyPolicy('test', { ...fast, attempts: 1, breakAfter: 3 });
    const fn = vi.fn(async () => Promise.reject(outage()));
    for (let i = 0; i < 3; i++) await rejection(policy.execute(fn));
    expect(policy.state()).toBe('open');
    const error = await rejection(policy.execute(fn));
    expect(fn).toHaveBeenCalledTimes(3);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as Error).message).toMatch(/circuit open/);
    expect((error as Error).cause).toBeInstanceOf(BrokenCircuitError);
  });

  it('reports its circuit to an observer, and the duration of each call made while it was open', async () => {
    const states: Array<() => string> = [];
    const refused: number[] = [];
    const observer = {
      watch: (name: string, watched: { state: () => string }) => (expect(name).toBe('test'), states.push(() => watched.state())),
      refused: (_: string, s: number, found: string) => (expect(found).toBe('open'), refused.push(s)),
      shed: () => {},
    };
    const policy = createDependencyPolicy('test', { ...fast, attempts: 5, breakAfter: 2, observer });
    expect(states).toHaveLength(1);
    expect(states[0]!()).toBe('closed');
    const fn = vi.fn(async () => Promise.reject(outage()));
    // The call whose retries ran into the opening circuit was not made while it was open.
    await rejection(policy.execute(fn));
    expect(states[0]!()).toBe('open');
    expect(refused).toEqual([]);
    await rejection(policy.execute(fn));
    await rejection(policy.execute(fn, { retry: false }));
    expect(fn).toHaveBeenCalledTimes(2);
    expect(refused).toHaveLength(2);
    // Refused at once: well under one attempt's 50 ms timeout (5 ms was exceeded once under CI load).
    for (const seconds of refused) expect(seconds).toBeLessThan(0.025);
  });

  it('tells a refusal at once (open) from one that waited for the failing half-open trial', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const found: string[] = [];
    const observer = { watch: () => undefined, refused: (_: string, __: number, state: string) => void found.push(state), shed: () => {} };
    const policy = createDependencyPolicy('test', { ...fast, attempts: 1, breakAfter: 1, halfOpenAfterMs: 5_000, observer });
    await rejection(policy.execute(async () => Promise.reject(outage())));
    await rejection(policy.execute(async () => 1));
    vi.setSystemTime(Date.now() + 5_000);
    let fail!: () => void;
    const started = new Promise<void>((resolve) => {
      void rejection(policy.execute(() => new Promise<never>((_, reject) => (resolve(), (fail = () => reject(outage()))))));
    });
    await started;
    const waiter = rejection(policy.execute(async () => 1));
    fail();
    expect(((await waiter) as Error).message).toMatch(/circuit open/);
    expect(found).toEqual(['open', 'half-open']);
  });

  it('counts timeouts towards opening the circuit', async () => {
    const policy = createDependencyPolicy('test', { ...fast, attempts: 1, breakAfter: 2 });
    const hang = () => new Promise<never>(() => {});
    await rejection(policy.execute(hang));
    await rejection(policy.execute(hang));
    expect(policy.state()).toBe('open');
  });

  it('stops retrying as soon as the circuit opens', async () => {
    const policy = createDependencyPolicy('test', { ...fast, attempts: 10, breakAfter: 2 });
    const fn = vi.fn(async () => Promise.reject(outage()));
    const error = await rejection(policy.execute(fn));
    expect(fn).toHaveBeenCalledTimes(2);
    expect((error as Error).message).toMatch(/circuit open/);
  });

  it('lets one trial through after the open period, closing on success or reopening on failure', async () => {
    // Only the clock is faked: cockatiel reads Date.now() to decide when the open period ends.
    vi.useFakeTimers({ toFake: ['Date'] });
    const policy = createDependencyPolicy('test', { ...fast, attempts: 1, breakAfter: 1, halfOpenAfterMs: 5_000 });
    await rejection(policy.execute(async () => Promise.reject(outage())));
    expect(policy.state()).toBe('open');

    vi.advanceTimersByTime(5_000);
    expect(policy.state()).toBe('half-open');
    await rejection(policy.execute(async () => Promise.reject(outage())));
    expect(policy.state()).toBe('open');

    vi.advanceTimersByTime(5_000);
    expect(await policy.execute(async () => 'back')).toBe('back');
    expect(policy.state()).toBe('closed');
  });

  it('makes one attempt only when the call asks for no retry', async () => {
    const policy = createDependencyPolicy('test', { ...fast, attempts: 5 });
    const fn = vi.fn(async () => Promise.reject(outage()));
    const error = await rejection(policy.execute(fn, { retry: false }));
    expect(fn).toHaveBeenCalledTimes(1);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
  });

  it('marks refusals before sending as notSent when asked (a contract client), and only those', async () => {
    const notSent = async (policy: ReturnType<typeof createDependencyPolicy>, fn: () => Promise<unknown>) => ((await rejection(policy.execute(fn))) as DependencyUnavailableError).notSent;
    const failing = async () => Promise.reject(outage());
    // The circuit opened under this call's own attempts: the first ones may have landed.
    const retried = createDependencyPolicy('test', { ...fast, attempts: 10, breakAfter: 2, notSentOnRefusal: true });
    expect(await notSent(retried, failing)).toBe(false);
    // Open now: the next call is refused before any attempt.
    expect(await notSent(retried, failing)).toBe(true);
    const full = createDependencyPolicy('test', { ...fast, timeoutMs: 5_000, maxConcurrent: 1, notSentOnRefusal: true });
    let open = () => {};
    const held = full.execute(() => new Promise<void>((resolve) => (open = resolve)));
    expect(await notSent(full, failing)).toBe(true);
    open();
    await held;
    // By default (a provider behind a module's own work) nothing is marked.
    const plain = createDependencyPolicy('test', { ...fast, attempts: 1, breakAfter: 1 });
    await rejection(plain.execute(failing));
    expect(await notSent(plain, failing)).toBe(false);
  });

  it('refuses at once beyond maxConcurrent running plus maxQueued waiting, then admits again', async () => {
    const policy = createDependencyPolicy('test', { ...fast, timeoutMs: 5_000, maxConcurrent: 2, maxQueued: 1 });
    const gates: Array<() => void> = [];
    const slow = () => new Promise<string>((resolve) => gates.push(() => resolve('done')));
    const held = [policy.execute(slow), policy.execute(slow), policy.execute(slow)];
    const error = await rejection(policy.execute(slow));
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as Error).message).toMatch(/bulkhead full/);
    expect((error as Error).cause).toBeInstanceOf(BulkheadRejectedError);
    expect(gates).toHaveLength(2); // the third waits in the queue, not running
    gates.splice(0).forEach((open) => open());
    await vi.waitFor(() => expect(gates).toHaveLength(1));
    gates[0]!();
    expect(await Promise.all(held)).toEqual(['done', 'done', 'done']);
    // A refusal is not a failure of the dependency: the circuit stays closed.
    expect(policy.state()).toBe('closed');
  });

  it('tells an observer how many calls run and wait in the bulkhead, and each call it refused', async () => {
    const shed: string[] = [];
    const policy = createDependencyPolicy('test', { ...fast, timeoutMs: 5_000, maxConcurrent: 2, maxQueued: 1, observer: { watch: () => {}, refused: () => {}, shed: (name) => void shed.push(name) } });
    expect(policy.load()).toEqual({ running: 0, queued: 0 });
    const gates: Array<() => void> = [];
    const slow = () => new Promise<string>((resolve) => gates.push(() => resolve('done')));
    const held = [policy.execute(slow), policy.execute(slow), policy.execute(slow)];
    await vi.waitFor(() => expect(gates).toHaveLength(2));
    expect(policy.load()).toEqual({ running: 2, queued: 1 });
    await rejection(policy.execute(slow));
    expect(shed).toEqual(['test']);
    expect(policy.load()).toEqual({ running: 2, queued: 1 });
    gates.splice(0).forEach((open) => open());
    await vi.waitFor(() => expect(gates).toHaveLength(1));
    expect(policy.load()).toEqual({ running: 1, queued: 0 });
    gates[0]!();
    await Promise.all(held);
    expect(policy.load()).toEqual({ running: 0, queued: 0 });
  });

  it('rejects nonsensical options at construction', () => {
    expect(() => createDependencyPolicy('test', { attempts: 0 })).toThrow(RangeError);
    expect(() => createDependencyPolicy('test', { timeoutMs: -1 })).toThrow(/timeoutMs/);
    expect(() => createDependencyPolicy('test', { breakAfter: 1.5 })).toThrow(/breakAfter/);
    expect(() => createDependencyPolicy('test', { maxConcurrent: 0 })).toThrow(/maxConcurrent/);
    expect(() => createDependencyPolicy('test', { maxQueued: -1 })).toThrow(/maxQueued/);
  });
});
