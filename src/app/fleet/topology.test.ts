import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseRouteTable } from '../../platform/gateway/routes-file.ts';
import { edgeUpstreams, gatewayRoutes, instanceUrls, planFleet, publicUrl } from './plan.ts';
import { assertRunnable, DEFAULT_TOPOLOGY, parseTopology, TopologyError } from './topology.ts';

const secrets = { JWT_SECRET: 'j'.repeat(32), INTERNAL_SECRET: 'i'.repeat(32) };
const small = (extra: Record<string, unknown> = {}) => ({
  version: 1,
  gateways: { instances: 1, port: 4001 },
  groups: [{ name: 'all', instances: 2, port: 4101 }],
  ...extra,
});

describe('fleet topology', () => {
  it('ships deploy/topology.json as the built-in default: edge, 2 gateways, one all group of 2, ports below 32768', () => {
    const shipped = parseTopology(JSON.parse(readFileSync('deploy/topology.json', 'utf8')));
    expect(shipped).toEqual(parseTopology(DEFAULT_TOPOLOGY));
    expect(shipped.edge).toMatchObject({ enabled: true, port: 18080 });
    expect(shipped.gateways.instances).toBe(2);
    expect(shipped.groups).toMatchObject([{ name: 'all', role: 'all', instances: 2 }]);
    expect(shipped.env.DATABASE_URL).toBe('postgres://postgres@127.0.0.1:15432/scalemart');
    expect(shipped.env.JWT_SECRET).toBeUndefined();
    const ports = planFleet(shipped, secrets, '/tmp/d').map((p) => p.port);
    expect(Math.max(...ports, shipped.edge.port)).toBeLessThan(32_768);
  });

  it('ships deploy/topology.services.json: edge, 1 gateway, identity, catalog (2) and orders service groups on infra\'s servers (the default\'s off this machine), runnable', () => {
    const shipped = parseTopology(JSON.parse(readFileSync('deploy/topology.services.json', 'utf8')));
    // The default topology's servers, each service in a database of its own on them.
    expect(shipped.env).toEqual({ ...parseTopology(DEFAULT_TOPOLOGY).env, DATABASE_PER_SERVICE: 'true' });
    // `fleet deploy` of it: the cluster's or compose host's servers, as the default's.
    expect(shipped.deploy).toEqual(parseTopology(DEFAULT_TOPOLOGY).deploy);
    expect(shipped.groups.map((g) => [g.name, g.role, g.instances, g.modules])).toEqual([
      ['identity', 'service', 1, ['identity']],
      ['catalog', 'service', 2, ['catalog', 'inventory']],
      ['orders', 'service', 1, ['orders', 'payments', 'shipping', 'notifications']],
    ]);
    expect(() => assertRunnable(shipped)).not.toThrow();
    const plan = planFleet(shipped, secrets, '/tmp/d', undefined, undefined, '/tmp/d/gateway-routes.json');
    expect(plan.map((p) => p.name)).toEqual(['identity-1', 'catalog-1', 'catalog-2', 'orders-1', 'gateway-1']);
    expect(Object.keys(parseRouteTable(gatewayRoutes(shipped, instanceUrls(plan))).pools)).toEqual(['identity', 'catalog', 'orders']);
  });

  it('names the field of a bad topology', () => {
    expect(() => parseTopology(small({ groups: [{ name: 'all', instances: 0, port: 4101 }] }))).toThrow(/groups\.0\.instances/);
    expect(() => parseTopology(small({ colour: 'blue' }))).toThrow(TopologyError);
    expect(() => parseTopology(small({ groups: [{ name: 'all', instances: 2, port: 40_000 }] }))).toThrow(/groups\.0\.port/);
  });

  it('refuses two processes on one port', () => {
    expect(() => parseTopology(small({ gateways: { instances: 2, port: 4100 } }))).toThrow(/port 4101: both gateway-2 and all-1/);
  });

  it('runs service groups only when they run every module exactly once on PostgreSQL, saying what is missing', () => {
    const pg = { DATABASE_URL: 'postgres://db/x' };
    const t = (groups: unknown[], env: Record<string, string> = pg) => parseTopology(small({ groups, env }));
    const rest = { name: 'rest', role: 'service', modules: ['identity', 'inventory', 'payments', 'shipping', 'notifications', 'orders'], instances: 1, port: 4201 };
    const catalog = { name: 'catalog', role: 'service', modules: ['catalog'], instances: 1, port: 4101 };
    expect(() => assertRunnable(t([catalog, rest]))).not.toThrow();
    expect(() => assertRunnable(t([catalog]))).toThrow(/^service groups must run every module exactly once: module identity runs in no group; module inventory runs in no group; /);
    expect(() => assertRunnable(t([catalog, rest, { ...catalog, name: 'more', port: 4301 }]))).toThrow(/module catalog runs in groups "catalog" and "more"/);
    expect(() => assertRunnable(t([{ ...catalog, modules: ['catalog', 'billing'] }, rest]))).toThrow(/unknown module\(s\) "billing" \(group "catalog"\)/);
    expect(() => assertRunnable(t([catalog, rest, { name: 'all', instances: 1, port: 4301 }]))).toThrow(/group\(s\) "all" run every module beside service groups/);
    expect(() => assertRunnable(t([catalog, rest], { DATABASE_URL: 'memory://' }))).toThrow(/group "catalog": service groups need PostgreSQL/);
    expect(() => assertRunnable(t([catalog, rest], { ...pg, JWT_SECRET: 'short' }))).toThrow(/JWT_SECRET must be at least 32 characters/);
    expect(() => parseTopology(small({ groups: [{ name: 'x', role: 'service', instances: 1, port: 4101 }] }))).toThrow(/names its modules/);
    expect(() => assertRunnable(parseTopology(small()))).not.toThrow();
  });

  it('plans service groups: SERVICE_URLS naming the group of every module they do not run, gateways on a routes file with a pool per group', () => {
    const t = parseTopology(small({
      edge: { enabled: false },
      gateways: { instances: 1, port: 4001, balancer: 'round-robin' },
      groups: [
        { name: 'identity', role: 'service', modules: ['identity'], instances: 1, port: 4101 },
        { name: 'catalog', role: 'service', modules: ['catalog', 'inventory'], instances: 2, port: 4201 },
        { name: 'orders', role: 'service', modules: ['orders', 'payments', 'shipping', 'notifications'], instances: 1, port: 4301 },
      ],
      env: { DATABASE_URL: 'postgres://db/x', SERVICE_URLS: 'stale=http://nowhere' },
    }));
    expect(() => planFleet(t, secrets, '/tmp/d')).toThrow(/routes file/);
    const plan = planFleet(t, secrets, '/tmp/d', undefined, undefined, '/tmp/routes.json');
    expect(plan.map((p) => [p.name, p.role, p.port])).toEqual([
      ['identity-1', 'service', 4101], ['catalog-1', 'service', 4201], ['catalog-2', 'service', 4202], ['orders-1', 'service', 4301], ['gateway-1', 'gateway', 4001],
    ]);
    const env = (name: string) => plan.find((p) => p.name === name)!.env;
    const catalogs = 'http://127.0.0.1:4201,http://127.0.0.1:4202';
    const orderGroup = 'http://127.0.0.1:4301';
    expect(env('identity-1').SERVICE_URLS).toBe(`inventory=${catalogs};catalog=${catalogs};payments=${orderGroup};shipping=${orderGroup};notifications=${orderGroup};orders=${orderGroup}`);
    expect(env('catalog-2').SERVICE_URLS).toBe(`identity=http://127.0.0.1:4101;payments=${orderGroup};shipping=${orderGroup};notifications=${orderGroup};orders=${orderGroup}`);
    expect(env('orders-1').SERVICE_URLS).toBe(`identity=http://127.0.0.1:4101;inventory=${catalogs};catalog=${catalogs}`);
    expect(plan[1]!.args).toEqual(['src/app/cli.ts', 'start', '--role', 'service', '--modules', 'catalog,inventory', '--stage', 'scaled', '--port', '4201']);
    expect(plan[4]!.args).toEqual(['src/app/cli.ts', 'start', '--role', 'gateway', '--port', '4001', '--routes', '/tmp/routes.json']);
    expect(env('gateway-1').SERVICE_URLS).toBe('stale=http://nowhere');

    const routes = gatewayRoutes(t, instanceUrls(plan))!;
    // What the gateway itself reads, and the pool each public path lands in (longest prefix).
    const table = parseRouteTable(routes);
    expect(Object.fromEntries(Object.entries(table.pools).map(([name, pool]) => [name, [pool.balancer, pool.upstreams.map((u) => u.url)]]))).toEqual({
      identity: ['round-robin', ['http://127.0.0.1:4101']],
      catalog: ['round-robin', catalogs.split(',')],
      orders: ['round-robin', [orderGroup]],
    });
    const poolOf = (path: string) => table.routes.filter((r) => path === r.prefix || path.startsWith(`${r.prefix}/`)).sort((a, b) => b.prefix.length - a.prefix.length)[0]?.pool;
    expect(['/api/v1/auth/login', '/api/v1/users/me', '/api/v1/admin/api-keys'].map(poolOf)).toEqual(['identity', 'identity', 'identity']);
    expect(['/api/v1/products/p1', '/api/v1/inventory/SKU-1'].map(poolOf)).toEqual(['catalog', 'catalog']);
    expect(['/api/v1/orders', '/api/v1/orders/o1/invoice', '/api/v1/admin/sales', '/api/v1/admin/events/dead-letters', '/api/v1/storefront/home'].map(poolOf)).toEqual(['orders', 'orders', 'orders', 'orders', 'orders']);
    // Only all groups: no routes file, one pool over every instance.
    expect(gatewayRoutes(parseTopology(small()), instanceUrls(planFleet(parseTopology(small()), secrets, '/tmp/d')))).toBeUndefined();
  });

  it('plans instances, then gateways over all of them, each with the shared env and the secrets', () => {
    const t = parseTopology(small({ env: { LOG_LEVEL: 'warn' } }));
    const plan = planFleet(t, secrets, '/tmp/d');
    expect(plan.map((p) => [p.name, p.port])).toEqual([['all-1', 4101], ['all-2', 4102], ['gateway-1', 4001]]);
    expect(plan[2]!.args).toEqual(['src/app/cli.ts', 'start', '--role', 'gateway', '--port', '4001', '--upstream', 'http://127.0.0.1:4101,http://127.0.0.1:4102', '--balancer', 'least-request']);
    expect(plan[0]!.args).toEqual(['src/app/cli.ts', 'start', '--role', 'all', '--stage', 'scaled', '--port', '4101']);
    for (const p of plan) expect(p.env).toMatchObject({ ...secrets, LOG_LEVEL: 'warn', HOST: '127.0.0.1', SCALEMART_DATA_DIR: `/tmp/d/${p.name}` });
    expect(publicUrl(t, plan)).toBe('http://127.0.0.1:18080');
    expect(edgeUpstreams(plan)).toEqual(['http://127.0.0.1:4001']);
    expect(publicUrl(parseTopology(small({ edge: { enabled: false } })), plan)).toBe('http://127.0.0.1:4001');
  });
});
