import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatStatus } from './format.ts';
import { createInfra } from './infra.ts';

const USAGE = `Usage: scalemart infra up|down|status [options]

  up                 start PostgreSQL (main, 2 replicas, 4 shards), Redis and NATS; idempotent
  down [--purge]     stop what infra started; --purge also deletes the data directory
  status [--json]    one line per server: role, port, health, replication lag

  --dir DIR          data directory (default: $SCALEMART_DATA_DIR/infra, or ./data/infra)
  --base-port N      main's port; replicas N+1, N+2; shards N+10..N+13 (default 15432)
`;

/** `scalemart infra …`: returns the process exit code. */
export async function infraCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      'base-port': { type: 'string' },
      purge: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [action] = positionals;
  if (values.help || !action || !['up', 'down', 'status'].includes(action) || positionals.length > 1) {
    (values.help ? process.stdout : process.stderr).write(USAGE);
    return values.help ? 0 : 2;
  }
  let basePort: number | undefined;
  if (values['base-port'] !== undefined) {
    basePort = Number(values['base-port']);
    if (!Number.isInteger(basePort) || basePort < 1024 || basePort > 65_522) {
      process.stderr.write('--base-port: an integer from 1024 to 65522\n');
      return 2;
    }
  }
  const dir = values.dir ?? join(process.env.SCALEMART_DATA_DIR ?? './data', 'infra');
  const infra = createInfra({ dir, basePort, log: (line) => process.stderr.write(`${line}\n`) });

  try {
    if (action === 'up') {
      const started = performance.now();
      const { actions, urls } = await infra.up();
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      process.stdout.write(actions.length === 0 ? `Already up (${seconds} s)\n` : `Up in ${seconds} s: ${actions.join(', ')}\n`);
      process.stdout.write(`main     ${urls.main}\nreplicas ${urls.replicas.join(' ')}\nshards   ${urls.shards.join(' ')}\nredis    ${urls.redis}\nnats     ${urls.nats}\n`);
      return 0;
    }
    if (action === 'down') {
      const actions = await infra.down({ purge: values.purge });
      process.stdout.write(actions.length === 0 ? 'Nothing was running\n' : `${actions.join('\n')}\n`);
      return 0;
    }
    const lines = await infra.status();
    process.stdout.write(values.json ? `${JSON.stringify(lines, null, 2)}\n` : formatStatus(lines));
    // Scripts can wait on `infra status` alone: non-zero while anything is down.
    return lines.every((l) => l.health === 'up') ? 0 : 1;
  } catch (error) {
    process.stderr.write(`infra ${action}: ${error instanceof Error ? error.message : String(error)}\n`);
    if (error instanceof Error && error.cause instanceof Error) process.stderr.write(`  cause: ${error.cause.message}\n`);
    return 1;
  }
}
