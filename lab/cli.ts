import { parseArgs } from 'node:util';
import { SCENARIOS } from './scenarios/index.ts';

const USAGE = `Usage: scalemart lab list
       scalemart lab run <scenario> [--rounds 3] [--duration 10] [--warmup 3] [--connections 50] [--products 10000] [--rate 2000]
`;

/** Entry point of `scalemart lab …`; returns the exit code (1 when a bar is not met). */
export async function runLab(argv: string[]): Promise<number> {
  const [command, name, ...rest] = argv;
  if (command === 'list') {
    for (const [key, scenario] of Object.entries(SCENARIOS)) process.stdout.write(`${key.padEnd(16)} ${scenario.describe}\n`);
    return 0;
  }
  const scenario = name ? SCENARIOS[name] : undefined;
  if (command !== 'run' || !scenario) {
    process.stderr.write(`${name && command === 'run' ? `Unknown scenario: ${name}\n` : ''}${USAGE}`);
    return 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      rounds: { type: 'string', default: '3' }, duration: { type: 'string', default: '10' }, warmup: { type: 'string', default: '3' },
      connections: { type: 'string', default: '50' }, products: { type: 'string', default: '10000' }, rate: { type: 'string', default: '2000' },
    },
  });
  const ok = await scenario.run({
    rounds: Math.max(3, Number(values.rounds)), durationSeconds: Number(values.duration), warmupSeconds: Number(values.warmup),
    connections: Number(values.connections), products: Number(values.products), rate: Number(values.rate),
  });
  return ok ? 0 : 1;
}
