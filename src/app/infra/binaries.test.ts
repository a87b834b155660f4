import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findBinary, findPgBinaries } from './binaries.ts';

describe('findBinary', () => {
  let root: string;
  const tool = async (dir: string, name: string) => {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, name), '#!/bin/sh\n');
    await chmod(join(dir, name), 0o755);
  };

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'scalemart-bin-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('prefers PATH over versioned directories', async () => {
    await tool(join(root, 'path'), 'initdb');
    await tool(join(root, 'pg', '16', 'bin'), 'initdb');
    expect(findBinary('initdb', { path: join(root, 'path'), versionedRoot: join(root, 'pg') })).toBe(join(root, 'path', 'initdb'));
  });

  it('falls back to the highest version, comparing numbers rather than strings', async () => {
    await tool(join(root, 'pg', '9.6', 'bin'), 'pg_ctl');
    await tool(join(root, 'pg', '17', 'bin'), 'pg_ctl');
    await tool(join(root, 'pg', '15', 'bin'), 'pg_ctl');
    expect(findBinary('pg_ctl', { path: '', versionedRoot: join(root, 'pg') })).toBe(join(root, 'pg', '17', 'bin', 'pg_ctl'));
  });

  it('names every missing program', () => {
    expect(() => findPgBinaries({ path: '', versionedRoot: join(root, 'none') })).toThrow(/initdb, pg_ctl, pg_basebackup/);
  });
});
