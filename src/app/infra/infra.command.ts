import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatStatus } from './format.ts';
import { createInfra } from './infra.ts';
import type { EdgeSettings } from './manifest.ts';
import { upstreamServer } from './nginx-config.ts';

const USAGE = `Usage: scalemart infra up|down|status [options]

  up                 start PostgreSQL (main, 2 replicas, 4 shards), Redis and NATS; idempotent
  down [--purge]     stop what infra started; --purge also deletes the data directory
  status [--json]    one line per server: role, port, health, replication lag

  --dir DIR          data directory (default: $SCALEMART_DATA_DIR/infra, or ./data/infra)
  --base-port N      main's port; replicas N+1, N+2; shards N+10..N+13 (default 15432)

  --edge             up: also run nginx (Debian's package, installed when missing) as the edge
                     balancer in front of the gateways; later ups keep it, with its settings
  --edge-port N      the edge's port (default 18080)
  --edge-upstream U  gateway URLs, comma-separated (default http://127.0.0.1:3001,http://127.0.0.1:3002)
  --edge-cache on|off  the edge's HTTP cache for public GETs (CDN layer; default off)
`;

/** The edge flags as infra options: undefined without any, a usage error as a string. */
export function parseEdgeFlags(values: { edge?: boolean; 'edge-port'?: string; 'edge-upstream'?: string; 'edge-cache'?: string }): Partial<EdgeSettings> | undefined | string {
  const given = values.edge || values['edge-port'] !== undefined || values['edge-upstream'] !== undefined || values['edge-cache'] !== undefined;
  if (!given) return undefined;
  const edge: Partial<EdgeSettings> = {};
  if (values['edge-port'] !== undefined) {
    const port = Number(values['edge-port']);
    if (!Number.isInteger(port) || port < 1024 || port > 65_535) return '--edge-port: an integer from 1024 to 65535';
    edge.port = port;
  }
  if (values['edge-upstream'] !== undefined) {
    const upstreams = values['edge-upstream'].split(',').map((u) => u.trim()).filter(Boolean);
    if (upstreams.length === 0) return '--edge-upstream: one or more http://host:port URLs, comma-separated';
    try {
      upstreams.forEach(upstreamServer);
    } catch (error) {
      return `--edge-upstream: ${(error as Error).message}`;
    }
    edge.upstreams = upstreams;
  }
  if (values['edge-cache'] !== undefined) {
    if (!['on', 'off'].includes(values['edge-cache'])) return '--edge-cache: on or off';
    edge.cache = values['edge-cache'] === 'on';
  }
  return edge;
}

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
      edge: { type: 'boolean', default: false },
      'edge-port': { type: 'string' },
      'edge-upstream': { type: 'string' },
      'edge-cache': { type: 'string' },
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
  const edge = parseEdgeFlags(values);
  if (typeof edge === 'string') {
    process.stderr.write(`${edge}\n`);
    return 2;
  }
  const dir = values.dir ?? join(process.env.SCALEMART_DATA_DIR ?? './data', 'infra');
  const infra = createInfra({ dir, basePort, edge, log: (line) => process.stderr.write(`${line}\n`) });

  try {
    if (action === 'up') {
      const started = performance.now();
      const { actions, urls } = await infra.up();
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      process.stdout.write(actions.length === 0 ? `Already up (${seconds} s)\n` : `Up in ${seconds} s: ${actions.join(', ')}\n`);
      process.stdout.write(`main     ${urls.main}\nreplicas ${urls.replicas.join(' ')}\nshards   ${urls.shards.join(' ')}\nredis    ${urls.redis}\nnats     ${urls.nats}\n`);
      if (urls.edge) process.stdout.write(`edge     ${urls.edge}\n`);
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
