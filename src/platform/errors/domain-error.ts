/**
 * An expected outcome a caller can act on, with a stable machine-readable code. The HTTP edge
 * maps `kind` to a status; modules never choose HTTP statuses themselves.
 */
export type ErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'unprocessable'
  | 'rate_limited'
  | 'unavailable';

export interface FieldIssue {
  field: string;
  message: string;
}

export class DomainError extends Error {
  override name = 'DomainError';
  readonly code: string;
  readonly kind: ErrorKind;
  readonly fields?: FieldIssue[];

  constructor(kind: ErrorKind, code: string, message: string, options: { fields?: FieldIssue[]; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.kind = kind;
    this.code = code;
    this.fields = options.fields;
  }
}

/** The platform's own codes; each module keeps its catalogue beside its contract. */
export const PlatformErrors = {
  validation: (fields: FieldIssue[], message = 'The request is not valid.') =>
    new DomainError('invalid', 'VALIDATION_FAILED', message, { fields }),
  unauthenticated: (message = 'Sign in to do this.') => new DomainError('unauthenticated', 'UNAUTHENTICATED', message),
  invalidToken: () => new DomainError('unauthenticated', 'INVALID_TOKEN', 'The token or API key is invalid or expired.'),
  forbidden: () => new DomainError('forbidden', 'FORBIDDEN', 'Your role does not allow this.'),
  notFound: (what = 'resource') => new DomainError('not_found', 'NOT_FOUND', `No such ${what}.`),
} as const;
