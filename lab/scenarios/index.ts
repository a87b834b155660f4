import { hotRead } from './hot-read.ts';

export interface ScenarioOptions {
  rounds: number;
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  products: number;
  /** Open-loop rate, requests per second. */
  rate: number;
}

/** A scenario runs its comparison, prints its table and returns whether its bar holds. */
export const SCENARIOS: Record<string, { describe: string; run: (options: ScenarioOptions) => Promise<boolean> }> = {
  'hot-read': { describe: 'GET /products/:id (Zipf 1.0) against a bare Fastify route serving the same JSON', run: hotRead },
};
