/**
 * An error of a platform package with a stable code from that package's catalogue: callers branch
 * on `code`, never on the message. Each package declares its codes as a union and its own subclass.
 */
export class CodedError<C extends string> extends Error {
  readonly code: C;

  constructor(code: C, message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.code = code;
  }
}
