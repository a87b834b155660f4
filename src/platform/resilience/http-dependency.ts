import { Pool, errors, type Dispatcher } from 'undici';
import { DependencyUnavailableError } from './dependency-error.ts';
import { createDependencyPolicy, type CircuitStateName, type DependencyPolicyOptions } from './policy.ts';

/** What every HTTP adapter to an outside system takes. */
export interface HttpDependencyOptions {
  /** Where the system answers, e.g. `http://127.0.0.1:4010`; a path prefix is kept. */
  baseUrl: string;
  /** Timeout, retry and breaker settings; see DependencyPolicyOptions for the defaults. */
  policy?: DependencyPolicyOptions;
  /** Keep-alive connections to the system when the adapter owns its pool. Default 16. */
  connections?: number;
  /** A dispatcher shared with others; the adapter then neither owns nor closes it. */
  dispatcher?: Dispatcher;
}

export interface HttpAnswer {
  status: number;
  body: unknown;
}

export interface HttpCall {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  idempotencyKey?: string;
  /** The statuses that are answers (success or a business refusal); anything else is an error. */
  answers: readonly number[];
}

export interface HttpDependency {
  /** Runs the call through the policy. Resolves only with a status listed in `answers`. */
  call(request: HttpCall): Promise<HttpAnswer>;
  circuitState(): CircuitStateName;
  close(): Promise<void>;
}

/**
 * The system answered something the adapter does not understand (a 4xx other than a business
 * refusal, a body that is not JSON). A bug on one side, so never retried.
 */
export class UnexpectedAnswerError extends Error {
  override name = 'UnexpectedAnswerError';
  readonly code = 'DEPENDENCY_UNEXPECTED_ANSWER';
  readonly dependency: string;
  readonly status: number;

  constructor(dependency: string, status: number, detail: string, options: { cause?: unknown } = {}) {
    super(`${dependency}: unexpected answer ${status}: ${detail}`, options);
    this.dependency = dependency;
    this.status = status;
  }
}

// Busy or failing, not wrong: a later attempt may succeed.
const transientStatus = (status: number) => status >= 500 || status === 408 || status === 429;

/** JSON over HTTP to one outside system, behind a DependencyPolicy named `name`. */
export function createHttpDependency(name: string, options: HttpDependencyOptions): HttpDependency {
  const base = new URL(options.baseUrl);
  const prefix = base.pathname.replace(/\/+$/, '');
  const owned = options.dispatcher ? null : new Pool(base.origin, { connections: options.connections ?? 16 });
  const dispatcher = options.dispatcher ?? owned!;
  const policy = createDependencyPolicy(name, options.policy);

  const once = async (request: HttpCall, signal: AbortSignal): Promise<HttpAnswer> => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (request.body !== undefined) headers['content-type'] = 'application/json';
    if (request.idempotencyKey) headers['idempotency-key'] = request.idempotencyKey;
    let status: number;
    let text: string;
    try {
      const response = await dispatcher.request({
        origin: base.origin,
        method: request.method,
        path: prefix + request.path,
        headers,
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        signal,
      });
      status = response.statusCode;
      // Read inside the attempt: the policy aborts the signal once the attempt returns.
      text = await response.body.text();
    } catch (error) {
      if (signal.aborted || error instanceof errors.InvalidArgumentError) throw error;
      throw new DependencyUnavailableError(name, `request failed: ${(error as Error).message}`, { cause: error });
    }
    if (transientStatus(status)) throw new DependencyUnavailableError(name, `answered ${status}`);
    if (!request.answers.includes(status)) throw new UnexpectedAnswerError(name, status, text.slice(0, 200));
    try {
      return { status, body: text ? JSON.parse(text) : null };
    } catch (error) {
      throw new UnexpectedAnswerError(name, status, 'body is not JSON', { cause: error });
    }
  };

  return {
    call: (request) => policy.execute((signal) => once(request, signal)),
    circuitState: () => policy.state(),
    close: async () => void (await owned?.close()),
  };
}

/** Reads a string field of an answer's body, or fails as an unexpected answer. */
export function stringField(name: string, answer: HttpAnswer, field: string): string {
  const value = (answer.body as Record<string, unknown> | null)?.[field];
  if (typeof value !== 'string') throw new UnexpectedAnswerError(name, answer.status, `missing string field "${field}"`);
  return value;
}
