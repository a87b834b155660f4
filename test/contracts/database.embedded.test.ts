import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedPostgresDatabase } from '../../src/platform/db/embedded/embedded-postgres.adapter.ts';
import { NODE } from '../support/process.ts';
import { databaseContract } from './database.contract.ts';

databaseContract('embedded PostgreSQL (the default)', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'scalemart-embedded-'));
  return { db: await createEmbeddedPostgresDatabase({ dataDir: dir, poolSize: 4 }), dispose: () => rm(dir, { recursive: true, force: true }) };
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const postmasterPid = (dataDir: string) => Number(readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

describe('the embedded PostgreSQL server', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'scalemart-embedded-life-'));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it('keeps committed rows across a stop and a start, and stops its server on close', async () => {
    const db = await createEmbeddedPostgresDatabase({ dataDir, poolSize: 2 });
    await db.exec('create table kept (id int primary key); insert into kept values (1), (2);');
    const pid = postmasterPid(dataDir);
    await db.close();
    expect(alive(pid)).toBe(false);
    expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);

    const again = await createEmbeddedPostgresDatabase({ dataDir, poolSize: 2 });
    try {
      expect((await again.query<{ n: string }>('select count(*) as n from kept')).rows[0]!.n).toBe('2');
    } finally {
      await again.close();
    }
  });

  it('does not outlive a process killed with SIGKILL, and the next start gets the directory back', async () => {
    // A child process opens the database, commits a row, reports, and is killed outright.
    const script = `
      const { createEmbeddedPostgresDatabase } = await import(${JSON.stringify(path.resolve('src/platform/db/embedded/embedded-postgres.adapter.ts'))});
      const db = await createEmbeddedPostgresDatabase({ dataDir: ${JSON.stringify(dataDir)}, poolSize: 2 });
      await db.exec('create table if not exists crashed (id int primary key); insert into crashed values (1);');
      process.stdout.write('committed\\n');
      setInterval(() => undefined, 1000);`;
    const child = spawn(NODE, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += String(c)));
    child.stderr.on('data', (c) => (out += String(c)));
    let pid: number;
    try {
      expect(await until(() => out.includes('committed'), 60_000), out).toBe(true);
      pid = postmasterPid(dataDir);
    } finally {
      // Killed on a failed assertion too; its supervisor then stops the server it started.
      child.kill('SIGKILL');
    }
    // Its supervisor sees the pipe close and shuts the server down.
    expect(await until(() => !alive(pid), 15_000)).toBe(true);

    const db = await createEmbeddedPostgresDatabase({ dataDir, poolSize: 2 });
    try {
      expect((await db.query<{ id: number }>('select id from crashed')).rows).toEqual([{ id: 1 }]);
    } finally {
      await db.close();
    }
  });

  it('starts over a lock file left by a process that no longer exists', async () => {
    // What a power cut leaves: postmaster.pid naming a pid that is now someone else's, or no one's.
    await writeFile(path.join(dataDir, 'postgres', 'postmaster.pid'), `${process.pid}\n${path.join(dataDir, 'postgres')}\n`);
    const db = await createEmbeddedPostgresDatabase({ dataDir, poolSize: 2 });
    try {
      expect((await db.query<{ ok: number }>('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      await db.close();
    }
  });

  it('refuses at once a second opener of a directory that a live process is using', async () => {
    const db = await createEmbeddedPostgresDatabase({ dataDir, poolSize: 2 });
    try {
      const started = Date.now();
      await expect(createEmbeddedPostgresDatabase({ dataDir, poolSize: 2 })).rejects.toThrow(`is in use by process ${process.pid}`);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect((await db.query<{ ok: number }>('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      await db.close();
    }
  });

  it('keeps the cluster private to the account that runs it', () => {
    expect(statSync(path.join(dataDir, 'postgres')).mode & 0o077).toBe(0);
  });
});
