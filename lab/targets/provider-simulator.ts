import type { ProcessGroup } from '../processes.ts';
import { freePort, waitUntilOk } from '../readiness.ts';
import type { Target } from './target.ts';

/** Starts lab/simulators/providers.ts (payments, carrier, warehouse, mail) with the given knobs; ready once /health answers. */
export async function startProviderSimulator(group: ProcessGroup, knobs: unknown, seed = 1): Promise<Target> {
  const port = await freePort();
  const args = ['lab/simulators/providers.ts', '--port', String(port), '--seed', String(seed), '--knobs', JSON.stringify(knobs)];
  const server = group.start('provider simulator', args);
  const origin = `http://127.0.0.1:${port}`;
  await waitUntilOk(`${origin}/health`, server);
  return { name: 'provider simulator', origin, process: server };
}
