import { basename } from 'node:path';
import { gatewayRoutes, instanceUrls, planFleet, type PlannedProcess, type RoutesFile } from '../plan.ts';
import type { Topology } from '../topology.ts';
import { deployEnv, ROUTES_FILE, SECRET_KEYS } from './kubernetes.ts';
import type { YamlValue } from './yaml.ts';

const ready = (port: number) => [
  'CMD', 'node', '-e', `fetch('http://127.0.0.1:${port}/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
];

/**
 * A compose file for one host: the same processes as `fleet up` (one service per instance and
 * per gateway, each with its command line and port), on containers. The gateways balance over the
 * instances themselves, with their health checks, as on this machine. PostgreSQL, Redis and NATS
 * run beside them under the names `deploy.env` points at (one primary; replicas and shards are the
 * operator's). There is no nginx edge: publish the gateways' ports behind the host's balancer.
 * Secrets come from the host's environment (`JWT_SECRET=… INTERNAL_SECRET=… docker compose up`).
 *
 * Service groups as `fleet up` runs them: each instance gets the SERVICE_URLS the fleet plans
 * (the other groups' instances, by service name), and `routes` is the gateways' routes file, to
 * be written beside compose.yaml, which the gateways mount read-only at `ROUTES_FILE`. The first
 * instance of each service group waits for the previous group's first to be healthy, as
 * `fleet up` starts them one group after another (the catalog seeds its users through identity).
 */
export function composeFile(t: Topology, build = { context: '..', dockerfile: 'deploy/Dockerfile' }): { compose: YamlValue; routes: RoutesFile | undefined } {
  const secrets = Object.fromEntries(SECRET_KEYS.map((k) => [k, `\${${k}:?set ${k} (32+ characters)}`])) as { JWT_SECRET: string; INTERNAL_SECRET: string };
  const addressOf = (p: PlannedProcess) => `${p.name}:${p.port}`;
  const processes = planFleet(t, secrets, '/var/lib/scalemart', '0.0.0.0', addressOf, ROUTES_FILE);
  const routes = gatewayRoutes(t, instanceUrls(processes, addressOf));
  const services: Record<string, YamlValue> = {
    postgres: {
      image: 'postgres:18',
      environment: { POSTGRES_HOST_AUTH_METHOD: 'trust', POSTGRES_DB: 'scalemart' },
      volumes: ['pgdata:/var/lib/postgresql'],
      healthcheck: { test: ['CMD', 'pg_isready', '-U', 'postgres'], interval: '2s', retries: 30 },
    },
    redis: { image: 'redis:7-alpine', command: ['redis-server', '--save', '', '--appendonly', 'no'] },
    nats: { image: 'nats:2.9-alpine', command: ['-js', '-sd', '/data'], volumes: ['natsdata:/data'] },
  };
  const firsts = new Map<string, string>();
  let previousFirst: string | undefined;
  for (const p of processes) {
    const group = t.groups.find((g) => g.name === p.group);
    const own = group?.env ?? t.gateways.env;
    // Inside the compose network each process has its own address: upstream URLs name the services.
    const command = ['node', ...p.args];
    const dependsOn: Record<string, YamlValue> = {};
    if (p.role === 'gateway') {
      for (const q of processes.filter((q) => q.role !== 'gateway')) dependsOn[q.name] = { condition: 'service_started' };
    } else {
      dependsOn.postgres = { condition: 'service_healthy' };
      dependsOn.redis = { condition: 'service_started' };
      dependsOn.nats = { condition: 'service_started' };
      // The first instance of a group migrates and seeds; the others wait for it.
      const first = firsts.get(p.group);
      if (first) dependsOn[first] = { condition: 'service_healthy' };
      else {
        if (p.role === 'service' && previousFirst) dependsOn[previousFirst] = { condition: 'service_healthy' };
        firsts.set(p.group, p.name);
        previousFirst = p.name;
      }
    }
    services[p.name] = {
      image: t.deploy.image,
      build,
      command,
      environment: { ...deployEnv(t, own), ...(p.role === 'service' ? { SERVICE_URLS: p.env.SERVICE_URLS! } : {}), ...secrets },
      ports: p.role === 'gateway' ? [`${p.port}:${p.port}`] : [],
      volumes: p.role === 'gateway' && routes ? [`./${basename(ROUTES_FILE)}:${ROUTES_FILE}:ro`] : undefined,
      depends_on: dependsOn,
      healthcheck: { test: ready(p.port), interval: '5s', timeout: '2s', retries: 3, start_period: '30s' },
      restart: 'unless-stopped',
      stop_grace_period: '30s',
    };
  }
  return { compose: { name: t.name, services, volumes: { pgdata: {}, natsdata: {} } }, routes };
}
