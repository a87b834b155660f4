/**
 * A dependency outside the process could not give an answer: it timed out, refused the
 * connection, answered 5xx or its circuit is open. Transient by nature, so worth retrying later.
 * A definite business answer (a declined card) is never this error.
 */
export class DependencyUnavailableError extends Error {
  override name = 'DependencyUnavailableError';
  readonly dependency: string;

  constructor(dependency: string, message: string, options: { cause?: unknown } = {}) {
    super(`${dependency}: ${message}`, options);
    this.dependency = dependency;
  }
}
