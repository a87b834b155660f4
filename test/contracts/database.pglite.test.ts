import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPgliteDatabase } from '../../src/platform/db/pglite.adapter.ts';
import { databaseContract } from './database.contract.ts';

databaseContract('PGlite in memory', async () => ({
  db: await createPgliteDatabase({ dataDir: 'memory://' }),
  dispose: async () => undefined,
}));

databaseContract('PGlite on disk', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'scalemart-pglite-'));
  return { db: await createPgliteDatabase({ dataDir: dir }), dispose: () => rm(dir, { recursive: true, force: true }) };
});

describe('PGlite single connection', () => {
  it('refuses, instead of deadlocking, a statement sent through the outer handle inside a transaction', async () => {
    const db = await createPgliteDatabase({ dataDir: 'memory://' });
    try {
      await expect(db.transaction(async () => db.query('select 1'))).rejects.toThrow(/use the transaction handle/);
      expect((await db.query<{ ok: number }>('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      await db.close();
    }
  });
});
