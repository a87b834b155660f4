import { migrate } from '../../src/platform/db/migrations.ts';
import { createPgliteDatabase } from '../../src/platform/db/pglite.adapter.ts';
import { createPostgresDatabase } from '../../src/platform/db/postgres.adapter.ts';
import { eventMigrations } from '../../src/platform/events/events.schema.ts';
import { createTableTransport } from '../../src/platform/events/table-transport.ts';
import { createScratchDatabase } from '../support/postgres.ts';
import { eventTransportContract, type TransportCapabilities } from './event-transport.contract.ts';

// One subscriber of a group delivers at a time (it holds the group's lease), in log order, and a
// retry holds the whole group back: the monolith's log trades parallelism for simplicity.
const capabilities: TransportCapabilities = { parallelGroup: false, retryBlocksOnlyItsPartition: false };

eventTransportContract('table log on PGlite', async () => {
  const db = await createPgliteDatabase({ dataDir: 'memory://' });
  await migrate(db, 'events', eventMigrations);
  return { transport: createTableTransport(db, { pollMs: 50 }), capabilities, dispose: () => db.close() };
});

eventTransportContract('table log on PostgreSQL', async () => {
  const scratch = await createScratchDatabase();
  const db = createPostgresDatabase({ connectionString: scratch.url, poolSize: 10 });
  await migrate(db, 'events', eventMigrations);
  return { transport: createTableTransport(db, { pollMs: 50 }), capabilities, dispose: async () => (await db.close(), await scratch.drop()) };
});
