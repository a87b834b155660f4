import type { ProcessGroup } from '../processes.ts';

/** What `scalemart lab run` lets a user set; every scenario reads what applies to it. */
export interface LabOptions {
  /** Alternated rounds per target (at least 3). */
  rounds: number;
  /** Measured seconds of each closed-loop run. */
  durationSeconds: number;
  /** Seconds of load before each measured run, not counted. */
  warmupSeconds: number;
  connections: number;
  /** Catalog size the scenario seeds. */
  products: number;
  /** Open-loop rate, requests per second. */
  rate: number;
  openLoopSeconds: number;
  /** Open-loop rate of the CPU accounting (hot-read), requests per second. */
  cpuRate: number;
  /** Requests per CPU measurement (hot-read): per target, request kind and round. */
  cpuRequests: number;
  /** Slices each CPU measurement is cut into, taken in turn by the targets (hot-read). */
  cpuSlices: number;
  /** Open-loop rate of order placements, orders per second. */
  orderRate: number;
  /** Seed of the workload's PRNG. */
  seed: number;
}

export interface ScenarioContext {
  /** Starts children and temp dirs; the runner stops and removes them whatever happens. */
  group: ProcessGroup;
  /** Progress for the person watching (stderr), never part of the result. */
  log(line: string): void;
  /** Where the one result table goes (stdout). */
  out: NodeJS.WritableStream;
}

export interface ScenarioOutcome {
  /** Whether the scenario's bar holds. */
  barHolds: boolean;
  reportPaths: { json: string; markdown: string };
}

export interface Scenario {
  description: string;
  run(options: LabOptions, context: ScenarioContext): Promise<ScenarioOutcome>;
}
