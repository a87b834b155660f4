/** One part of an aggregate: given a signal that aborts at its deadline, resolves with the part's data. */
export type Part<T> = (signal: AbortSignal) => Promise<T>;

export interface AggregateOptions<K extends string> {
  /** How long each part may take, in milliseconds. */
  deadlineMs: number;
  /** A different deadline for some parts. */
  deadlines?: Partial<Record<K, number>>;
  /** Told about each part left out: it threw (`failed`) or missed its deadline (`late`). */
  onDegraded?(part: K, reason: 'failed' | 'late', error?: unknown): void;
}

export interface Aggregate<P extends Record<string, Part<unknown>>> {
  /** What arrived in time, by part name; a part left out is absent. */
  data: { [K in keyof P]?: Awaited<ReturnType<P[K]>> };
  /** The parts left out, in the order they were given. */
  degraded: Extract<keyof P, string>[];
}

/**
 * Runs every part at once, each under its own deadline, and answers as soon as every part has
 * settled or run out of time: a slow or failing part costs the whole at most its deadline and
 * is named in `degraded`, never thrown. A late part's signal is aborted, so work it started (an
 * HTTP call to an upstream, say) can stop; whatever it resolves with afterwards is dropped.
 *
 * Domain-free: the monolith runs it over in-process calls, a gateway over HTTP.
 */
export async function aggregate<P extends Record<string, Part<unknown>>>(parts: P, options: AggregateOptions<Extract<keyof P, string>>): Promise<Aggregate<P>> {
  type K = Extract<keyof P, string>;
  const names = Object.keys(parts) as K[];
  const outcomes = await Promise.all(names.map((name) => settle(name, parts[name]!, options.deadlines?.[name] ?? options.deadlineMs)));
  const data: Aggregate<P>['data'] = {};
  const degraded: K[] = [];
  outcomes.forEach((outcome, i) => {
    const name = names[i]!;
    if (outcome.ok) {
      data[name] = outcome.value as Aggregate<P>['data'][K];
      return;
    }
    degraded.push(name);
    options.onDegraded?.(name, outcome.reason, outcome.error);
  });
  return { data, degraded };
}

type Outcome = { ok: true; value: unknown } | { ok: false; reason: 'failed' | 'late'; error?: unknown };

function settle(name: string, part: Part<unknown>, deadlineMs: number): Promise<Outcome> {
  const controller = new AbortController();
  return new Promise<Outcome>((resolve) => {
    const timer = setTimeout(() => {
      controller.abort(new DeadlineExceededError(name, deadlineMs));
      resolve({ ok: false, reason: 'late' });
    }, deadlineMs);
    const finish = (outcome: Outcome) => {
      clearTimeout(timer);
      resolve(outcome);
    };
    let running: Promise<unknown>;
    try {
      running = part(controller.signal);
    } catch (error) {
      // A part that throws before it returns a promise is a failed part like any other.
      running = Promise.reject(error);
    }
    running.then((value) => finish({ ok: true, value }), (error: unknown) => finish({ ok: false, reason: 'failed', error }));
  });
}

/** The reason a late part's signal carries. */
export class DeadlineExceededError extends Error {
  override name = 'DeadlineExceededError';
  readonly part: string;
  readonly deadlineMs: number;
  constructor(part: string, deadlineMs: number) {
    super(`${part} missed its ${deadlineMs} ms deadline`);
    this.part = part;
    this.deadlineMs = deadlineMs;
  }
}
