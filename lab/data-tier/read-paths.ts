import type { Database } from '../../src/platform/db/database.ts';
import { createRandom } from '../workload/zipf.ts';

/** Queries per second from `concurrency` callers each running `query` back to back for `seconds`. */
export async function closedLoopQueries(db: Database, options: { seconds: number; concurrency: number; rows: number; seed: number }): Promise<number> {
  const random = createRandom(options.seed);
  const deadline = performance.now() + options.seconds * 1000;
  let done = 0;
  await Promise.all(Array.from({ length: options.concurrency }, async () => {
    while (performance.now() < deadline) {
      const id = 1 + Math.floor(random() * options.rows);
      await db.query('select id, body from bench where id = $1', [id]);
      done++;
    }
  }));
  return done / options.seconds;
}
