import { parseArgs } from 'node:util';
import { withProcessGroup } from './processes.ts';
import { SCENARIOS, type LabOptions } from './scenarios/index.ts';
import { DEFAULT_SEED } from './workload/zipf.ts';

export const USAGE = `Usage: scalemart lab list
       scalemart lab run <scenario> [options]

Options of run (defaults in brackets):
  --rounds N         alternated rounds per target, at least 3 [3]
  --duration S       measured seconds of each closed-loop run [10]
  --warmup S         seconds of uncounted load before each run [3]
  --connections C    closed-loop connections [50]
  --products N       catalog size to seed [10000]
  --rate R           open-loop requests per second [2000]
  --open-seconds S   open-loop seconds per target [5]
  --cpu-rate R       open-loop rate of the CPU accounting (hot-read) [3000]
  --cpu-requests N   requests per CPU measurement (hot-read) [30000]
  --cpu-slices N     slices of each CPU measurement, alternated between targets (hot-read) [10]
  --order-rate R     orders per second (order-async) [20]
  --seed N           workload seed [${DEFAULT_SEED}]

Exit code: 0 when the scenario's bar holds, 1 when it does not or the run failed, 2 on a usage error.
`;

export interface LabIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

class UsageError extends Error {}

function number(name: string, raw: string, min: number, max: number, integer: boolean): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new UsageError(`--${name}: ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

export function parseRunOptions(args: string[]): LabOptions {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: {
        rounds: { type: 'string', default: '3' },
        duration: { type: 'string', default: '10' },
        warmup: { type: 'string', default: '3' },
        connections: { type: 'string', default: '50' },
        products: { type: 'string', default: '10000' },
        rate: { type: 'string', default: '2000' },
        'open-seconds': { type: 'string', default: '5' },
        'cpu-rate': { type: 'string', default: '3000' },
        'cpu-requests': { type: 'string', default: '30000' },
        'cpu-slices': { type: 'string', default: '10' },
        'order-rate': { type: 'string', default: '20' },
        seed: { type: 'string', default: String(DEFAULT_SEED) },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const get = (name: string) => values[name] ?? '';
  return {
    // Fewer than 3 rounds cannot show a spread: BENCHMARKS.md asks for at least 3.
    rounds: number('rounds', get('rounds'), 3, 100, true),
    durationSeconds: number('duration', get('duration'), 1, 600, false),
    warmupSeconds: number('warmup', get('warmup'), 0, 600, false),
    connections: number('connections', get('connections'), 1, 10_000, true),
    products: number('products', get('products'), 1, 1_000_000, true),
    rate: number('rate', get('rate'), 1, 100_000, false),
    openLoopSeconds: number('open-seconds', get('open-seconds'), 1, 600, false),
    cpuRate: number('cpu-rate', get('cpu-rate'), 1, 100_000, false),
    cpuRequests: number('cpu-requests', get('cpu-requests'), 100, 10_000_000, true),
    cpuSlices: number('cpu-slices', get('cpu-slices'), 1, 1_000, true),
    orderRate: number('order-rate', get('order-rate'), 0.1, 10_000, false),
    seed: number('seed', get('seed'), 0, 2 ** 32 - 1, true),
  };
}

/**
 * `scalemart lab …`: lists scenarios or runs one and returns the exit code. Every process and
 * temporary directory a run makes is removed when it ends, fails, or is interrupted.
 */
export async function runLab(argv: string[], io: LabIo = { out: process.stdout, err: process.stderr }): Promise<number> {
  const [command, name, ...rest] = argv;
  if (command === 'list') {
    for (const [key, scenario] of SCENARIOS) io.out.write(`${key.padEnd(12)} ${scenario.description}\n`);
    return 0;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    io.out.write(USAGE);
    return 0;
  }
  if (command !== 'run') {
    io.err.write(`${command ? `Unknown lab command: ${command}\n` : ''}${USAGE}`);
    return 2;
  }
  const scenario = name ? SCENARIOS.get(name) : undefined;
  if (!scenario) {
    io.err.write(`${name ? `Unknown scenario: ${name}` : 'Which scenario?'} (known: ${[...SCENARIOS.keys()].join(', ')})\n${USAGE}`);
    return 2;
  }
  let options: LabOptions;
  try {
    options = parseRunOptions(rest);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err.write(`${error.message}\n${USAGE}`);
    return 2;
  }
  try {
    const outcome = await withProcessGroup((group) => scenario.run(options, { group, out: io.out, log: (line) => io.err.write(`${line}\n`) }));
    return outcome.barHolds ? 0 : 1;
  } catch (error) {
    io.err.write(`lab run ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}
