/**
 * The logger the engine and its followers (notifications, deployment records) write to: the
 * subset of pino's API they use, so tests pass a plain object and `gangway up` passes pino.
 */

/**
 * Structured log lines: a context object first, then an optional message. Implementations
 * must not throw; a logger that cannot write drops the line.
 *
 * @example
 * const log: Logger = { info: (o, m) => console.log(m, o), warn: (o, m) => console.warn(m, o), error: (o, m) => console.error(m, o) };
 * log.warn({ deployment: 'd-1' }, 'lease lost');
 */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
