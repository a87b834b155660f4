import { describe, expect, it } from 'vitest';
import { createPostgresDatabase } from '../../src/platform/db/postgres.adapter.ts';
import { createScratchDatabase } from '../support/postgres.ts';
import { databaseContract } from './database.contract.ts';

databaseContract('node-postgres against the real server', async () => {
  const scratch = await createScratchDatabase();
  return { db: createPostgresDatabase({ connectionString: scratch.url, poolSize: 10 }), dispose: scratch.drop };
});

describe('node-postgres pool', () => {
  it('reports occupancy and how long checkouts waited when the pool is short', async () => {
    const scratch = await createScratchDatabase();
    const waits: number[] = [];
    const db = createPostgresDatabase({ connectionString: scratch.url, poolSize: 2, onAcquireWait: (ms) => waits.push(ms) });
    try {
      const busy = Promise.all(Array.from({ length: 6 }, () => db.query('select pg_sleep(0.05)')));
      // Checkouts beyond the pool's size queue at once, before anything is awaited.
      const during = db.stats().pool!;
      await busy;
      expect(during).toMatchObject({ max: 2, total: 2 });
      expect(during.waiting).toBeGreaterThan(0);
      expect(waits).toHaveLength(6);
      // Six 50 ms queries through two connections: the last pair waited for two rounds.
      expect(Math.max(...waits)).toBeGreaterThanOrEqual(80);
      expect(db.stats().pool).toMatchObject({ waiting: 0, idle: 2 });
    } finally {
      await db.close();
      await scratch.drop();
    }
  });
});
