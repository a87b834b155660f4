import { z } from 'zod';
import { BALANCER_NAMES, type BalancerName } from './balancers/index.ts';

/** Where a consistent-hash pool reads its key: the client's address, or a request header. */
export type HashKeySource = 'ip' | `header:${string}`;

export interface PoolDefinition {
  upstreams: Array<{ url: string; weight: number }>;
  balancer: BalancerName;
  hashKey: HashKeySource;
}

/** The gateway's routing: path prefixes (longest wins) to named pools. */
export interface RouteTable {
  pools: Record<string, PoolDefinition>;
  routes: Array<{ prefix: string; pool: string }>;
}

const hashKey = z.string().regex(/^(ip|header:[A-Za-z0-9-]+)$/, '"ip" or "header:<name>"').transform((v) => v.toLowerCase() as HashKeySource);
const upstream = z.union([
  z.url({ protocol: /^http$/ }).transform((url) => ({ url, weight: 1 })),
  z.object({ url: z.url({ protocol: /^http$/ }), weight: z.number().int().min(1).max(1000).default(1) }).strict(),
]);

const schema = z.object({
  pools: z.record(z.string().regex(/^[\w-]{1,64}$/), z.object({
    upstreams: z.array(upstream).min(1),
    balancer: z.enum(BALANCER_NAMES).default('least-request'),
    hashKey: hashKey.default('ip'),
  }).strict()),
  routes: z.array(z.object({
    prefix: z.string().regex(/^\/api\/v1(\/[\w.-]+)*$/, 'a path prefix under /api/v1 (the gateway never routes /internal)'),
    pool: z.string(),
  }).strict()).min(1),
}).strict().superRefine((table, ctx) => {
  const seen = new Set<string>();
  for (const [i, route] of table.routes.entries()) {
    if (!table.pools[route.pool]) ctx.addIssue({ code: 'custom', path: ['routes', i, 'pool'], message: `no pool named ${route.pool}` });
    if (seen.has(route.prefix)) ctx.addIssue({ code: 'custom', path: ['routes', i, 'prefix'], message: `${route.prefix} is routed twice` });
    seen.add(route.prefix);
  }
});

/**
 * Validates a routes file's JSON: `{ pools: { name: { upstreams: [url | {url, weight}], balancer?,
 * hashKey? } }, routes: [{ prefix, pool }] }`. Throws an Error naming the first bad field.
 */
export function parseRouteTable(json: unknown): RouteTable {
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${issue.path.join('.') || '(file)'}: ${issue.message}`);
  }
  return parsed.data;
}

/** The simple form: every `/api/v1` route to one pool of `urls`. */
export function singlePoolTable(urls: string[], balancer: BalancerName, key: HashKeySource = 'ip'): RouteTable {
  return parseRouteTable({ pools: { default: { upstreams: urls, balancer, hashKey: key } }, routes: [{ prefix: '/api/v1', pool: 'default' }] });
}
