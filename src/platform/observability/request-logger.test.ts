import { Writable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';
import { lazyRequestLoggers } from './request-logger.ts';

function capture(level: 'info' | 'warn') {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write: (chunk, _encoding, done) => void (lines.push(JSON.parse(String(chunk))), done()) });
  return { lines, logger: createLogger(level, stream) as unknown as FastifyBaseLogger };
}

describe('lazy request loggers', () => {
  it('write what a pino child writes: bindings, redaction, only at enabled levels', () => {
    const { lines, logger } = capture('warn');
    const log = lazyRequestLoggers(logger, { reqId: 'r-1' }, {});
    log.info({ a: 1 }, 'not written');
    log.debug('not written');
    log.warn({ password: 'hunter2', dependency: 'payments' }, 'dependency unavailable');
    log.error(new Error('boom'));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 40, reqId: 'r-1', service: 'scalemart', password: '[redacted]', dependency: 'payments', msg: 'dependency unavailable' });
    expect(lines[1]).toMatchObject({ level: 50, reqId: 'r-1', msg: 'boom' });
    expect(log.level).toBe('warn');
  });

  it('honours a route log level and makes children with both bindings', () => {
    const { lines, logger } = capture('warn');
    const log = lazyRequestLoggers(logger, { reqId: 'r-2' }, { level: 'debug' });
    expect(log.level).toBe('debug');
    log.debug('route debug');
    log.child({ step: 'x' }).warn('from a child');
    expect(lines.map((line) => [line.msg, line.reqId])).toEqual([['route debug', 'r-2'], ['from a child', 'r-2']]);
    expect(lines[1]!.step).toBe('x');
  });

  it('logs at info when the request log is on', () => {
    const { lines, logger } = capture('info');
    lazyRequestLoggers(logger, { reqId: 'r-3' }, {}).info({ status: 200 }, 'request');
    expect(lines[0]).toMatchObject({ level: 30, reqId: 'r-3', status: 200, msg: 'request' });
  });
});
