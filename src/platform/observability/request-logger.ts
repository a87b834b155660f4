import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, Level, Logger } from 'pino';

/**
 * A request's logger that becomes a pino child (`parent.child(bindings, options)`) only when
 * something logs at an enabled level, or asks for its own child or level; calls at a disabled
 * level cost a level check and nothing else.
 *
 * Why: Fastify builds a pino child for every request (`logger.child({ reqId })`), and pino's
 * `child` with `redact` on runs the bindings through the redacting serialiser and sets up a new
 * prototype-chained logger: a microsecond or two and a few objects per request, paid even when the
 * request log is off (LOG_LEVEL above `info`) and the request never logs. The lines it writes when
 * it does log are the same: the same child, made on first use.
 */
class LazyRequestLogger {
  readonly #parent: Logger;
  readonly #bindings: Bindings;
  readonly #options: ChildLoggerOptions;
  #child: Logger | undefined;

  constructor(parent: Logger, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
  }

  #real(): Logger {
    // An empty options object is what Fastify passes when the route sets nothing.
    return (this.#child ??= this.#parent.child(this.#bindings, this.#options as never));
  }

  #log(level: Level, args: unknown[]): void {
    // A route-level `logLevel` makes the child's threshold differ from the parent's: ask the child.
    const logger = this.#child ?? (this.#options.level === undefined ? this.#parent : this.#real());
    if (!logger.isLevelEnabled(level)) return;
    (this.#real()[level] as (...a: unknown[]) => void)(...args);
  }

  get level(): string {
    return this.#child?.level ?? this.#options.level ?? this.#parent.level;
  }
  set level(level: string) {
    this.#real().level = level;
  }
  // Methods on the prototype, not arrow fields: a request that never logs allocates one object.
  fatal(...args: unknown[]): void {
    this.#log('fatal', args);
  }
  error(...args: unknown[]): void {
    this.#log('error', args);
  }
  warn(...args: unknown[]): void {
    this.#log('warn', args);
  }
  info(...args: unknown[]): void {
    this.#log('info', args);
  }
  debug(...args: unknown[]): void {
    this.#log('debug', args);
  }
  trace(...args: unknown[]): void {
    this.#log('trace', args);
  }
  silent(): void {}
  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#real().child(bindings, options as never) as FastifyBaseLogger;
  }
}

/** Fastify's `childLoggerFactory` option: each request's logger is made on first use (see LazyRequestLogger). */
export function lazyRequestLoggers(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyRequestLogger(logger as Logger, bindings, options) as unknown as FastifyBaseLogger;
}
