import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
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
