import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SignJWT } from 'jose';
import { REPO_ROOT, SCALEMART_CLI } from '../paths.ts';
import type { ProcessGroup } from '../processes.ts';
import { freePort, waitUntilOk } from '../readiness.ts';
import { LAB_ENV } from '../targets/scalemart.ts';
import type { Target } from '../targets/target.ts';

// ════════════════════════════════════════════════════════════════════════════════════════════════
// THE SCALEMART GATEWAY, AS THE LAB STARTS IT: the one place to adjust when the gateway lands
// (command line, environment, balancing flag, readiness path, the credential the load carries).
// ════════════════════════════════════════════════════════════════════════════════════════════════

/** Balancing strategies the second table compares, as the gateway's flag spells them. */
export type GatewayStrategy = 'round-robin' | 'least-request' | 'weighted';

/** Secrets shared by the gateway and its upstream instances (the upstream checks what the gateway signs). */
export const LAB_SECRETS: Readonly<Record<string, string>> = {
  JWT_SECRET: 'scalemart-lab-gateway-jwt-secret-0123456789',
  INTERNAL_SECRET: 'scalemart-lab-gateway-internal-secret-012345',
};

/**
 * The gateway's command line and environment: auth on (every lab request carries a JWT) and limits
 * shared on Redis, never reached. Weights need a routes file (the gateway has no weights flag).
 */
export function gatewayLaunch(upstreams: readonly string[], port: number, strategy?: GatewayStrategy, routesFile?: string) {
  return {
    args: [
      SCALEMART_CLI, 'start', '--role', 'gateway', '--port', String(port),
      ...(routesFile ? ['--routes', routesFile] : ['--upstream', upstreams.join(',')]),
      ...(strategy && !routesFile ? ['--balancer', strategy] : []),
    ],
    env: {
      ...LAB_ENV,
      ...LAB_SECRETS,
      REDIS_URL: process.env.LAB_GATEWAY_REDIS_URL ?? 'redis://127.0.0.1:6379/11',
      // Limits on, counted in Redis for every request, at a level no run reaches.
      RATE_LIMIT_POINTS: '100000000',
    },
    readyPath: '/readyz',
  };
}

/** A routes file sending all of /api/v1 to one pool of weighted instances. */
export function weightedRoutes(upstreams: readonly string[], weights: readonly number[], strategy: GatewayStrategy): string {
  return JSON.stringify({
    pools: { lab: { upstreams: upstreams.map((url, i) => ({ url, weight: weights[i] ?? 1 })), balancer: strategy } },
    routes: [{ prefix: '/api/v1', pool: 'lab' }],
  });
}

/** Why the gateway cannot run on this branch, or undefined when it should. */
export function gatewayMissing(): string | undefined {
  if (!existsSync(path.join(REPO_ROOT, 'src', 'platform', 'gateway'))) {
    return 'the Scalemart gateway is not on this branch yet (no src/platform/gateway/; `scalemart start --role gateway` is being built elsewhere)';
  }
  return undefined;
}

/** Starts the gateway, or returns why it could not (it is then skipped, with that reason printed). */
export async function startGateway(group: ProcessGroup, name: string, upstreams: readonly string[], strategy?: GatewayStrategy, weights?: readonly number[]): Promise<Target | string> {
  const missing = gatewayMissing();
  if (missing) return missing;
  const port = await freePort();
  let routesFile: string | undefined;
  if (weights) {
    routesFile = path.join(await group.tempDir('gateway-routes'), 'routes.json');
    await writeFile(routesFile, weightedRoutes(upstreams, weights, strategy ?? 'weighted'));
  }
  const launch = gatewayLaunch(upstreams, port, strategy, routesFile);
  const server = group.start(name, launch.args, launch.env);
  const origin = `http://127.0.0.1:${port}`;
  try {
    await waitUntilOk(`${origin}${launch.readyPath}`, server, 30_000);
  } catch (error) {
    await server.stop();
    const detail = (error instanceof Error ? error.message : String(error)).split('\n').filter(Boolean).slice(0, 4).join(' / ');
    return `the gateway did not start: ${detail}`;
  }
  return { name, origin, process: server };
}

/** The credential every lab request carries on every path, so the gateway's edge auth verifies one per request. */
export async function labAuthorization(): Promise<Record<string, string>> {
  const token = await new SignJWT({ role: 'customer' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('lab-gateway-user')
    .setIssuer('scalemart')
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(LAB_SECRETS.JWT_SECRET));
  return { authorization: `Bearer ${token}` };
}
