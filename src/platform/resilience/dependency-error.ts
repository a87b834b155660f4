/**
 * A dependency outside the process could not give an answer: it timed out, refused the
 * connection, answered 5xx or its circuit is open. Transient by nature, so worth retrying later.
 * A definite business answer (a declined card) is never this error.
 */
export class DependencyUnavailableError extends Error {
  override name = 'DependencyUnavailableError';
  readonly dependency: string;
  /**
   * No attempt of the call left this process (a full bulkhead, a circuit open at the first
   * attempt): the dependency cannot have acted on it, so there is nothing to undo. False when
   * unsure (a timeout, a refused connection after an attempt that may have landed).
   */
  readonly notSent: boolean;

  constructor(dependency: string, message: string, options: { cause?: unknown; notSent?: boolean } = {}) {
    super(`${dependency}: ${message}`, { cause: options.cause });
    this.dependency = dependency;
    this.notSent = options.notSent ?? false;
  }
}
