import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

/** Paths that must never reach a log line, whatever a handler logs. */
const REDACT = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  '*.password',
  '*.token',
  'password',
  'token',
];

export function createLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' }, base: { service: 'scalemart' } }, destination);
}
