import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { NODE } from '../support/process.ts';

/** Runs `scalemart start …` and collects what it writes to stderr until it exits. */
function refused(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; lines: string[] }> {
  const child = spawn(NODE, ['src/app/cli.ts', 'start', ...args], { env: { ...process.env, ...env }, stdio: 'pipe' });
  let err = '';
  child.stderr.on('data', (chunk) => (err += String(chunk)));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, lines: err.trim().split('\n') })));
}

describe('scalemart start --role service', () => {
  const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/never_opened', JWT_SECRET: 'j'.repeat(40), INTERNAL_SECRET: 'i'.repeat(40), SCALEMART_ROLE: '', SCALEMART_MODULES: '', SERVICE_URLS: '' };
  it('is refused with one line without --modules, with an unknown module, and without the URLs of a module it needs', async () => {
    expect(await refused(['--role', 'service'], env)).toEqual({ code: 2, lines: [expect.stringMatching(/^Configuration error: SCALEMART_MODULES: the service role needs --modules with names from identity, inventory, /)] });
    expect(await refused(['--role', 'service', '--modules', 'catalog,carts'], env)).toEqual({ code: 2, lines: [expect.stringMatching(/^Configuration error: SCALEMART_MODULES: unknown module carts; /)] });
    expect(await refused(['--role', 'service', '--modules', 'catalog'], env)).toEqual({
      code: 2,
      lines: [expect.stringMatching(/^Configuration error: SERVICE_URLS: no instances given for inventory \(needed by catalog\); /)],
    });
  });
});
