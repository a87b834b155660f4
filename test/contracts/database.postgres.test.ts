import { createPostgresDatabase } from '../../src/platform/db/postgres.adapter.ts';
import { createScratchDatabase } from '../support/postgres.ts';
import { databaseContract } from './database.contract.ts';

databaseContract('node-postgres against the real server', async () => {
  const scratch = await createScratchDatabase();
  return { db: createPostgresDatabase({ connectionString: scratch.url, poolSize: 10 }), dispose: scratch.drop };
});
