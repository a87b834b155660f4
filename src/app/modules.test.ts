import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestMonolith, type TestMonolith } from '../../test/support/monolith.ts';
import { MODULE_NAMES } from '../platform/config/config.ts';
import { covers, MODULES, planProcess, STOREFRONT_PREFIX } from './modules.ts';

describe('the module table', () => {
  it('names every module once, each after the modules it requires', () => {
    expect(MODULES.map((m) => m.name)).toEqual([...MODULE_NAMES]);
    MODULES.forEach((module, i) => {
      for (const callee of module.requires) expect(MODULES.findIndex((m) => m.name === callee), `${module.name} requires ${callee}`).toBeLessThan(i);
    });
  });

  it('plans every module here for --role all, and the callees of a split over SERVICE_URLS', () => {
    expect(planProcess(MODULE_NAMES, {})).toEqual({ local: [...MODULE_NAMES], remote: [] });
    expect(planProcess(['catalog'], { inventory: ['http://a:1', 'http://b:2'] })).toEqual({ local: ['catalog'], remote: [{ module: 'inventory', urls: ['http://a:1', 'http://b:2'] }] });
    expect(planProcess(['inventory', 'catalog'], {})).toEqual({ local: ['inventory', 'catalog'], remote: [] });
    // The saga's callees count as orders' needs.
    const urls = { catalog: ['http://c'], identity: ['http://i'], notifications: ['http://n'], inventory: ['http://s'], payments: ['http://s'] };
    expect(() => planProcess(['orders'], urls)).toThrow(/^SERVICE_URLS: no instances given for shipping \(needed by orders\); /);
    expect(planProcess(['orders', 'shipping'], urls).remote.map((r) => r.module).sort()).toEqual(['catalog', 'identity', 'inventory', 'notifications', 'payments']);
    // Contracts named in SERVICE_URLS but not needed are reached too (catalog's seeding uses identity); orders has no contract.
    expect(planProcess(['catalog', 'inventory'], { identity: ['http://i'], orders: ['http://o'] }).remote).toEqual([{ module: 'identity', urls: ['http://i'] }]);
  });
});

describe("the modules' public prefixes", () => {
  let monolith: TestMonolith;
  beforeAll(async () => {
    monolith = await startTestMonolith({ SEED_DEMO_PRODUCTS: '0' });
  });
  afterAll(async () => monolith?.dispose());

  it('cover every public route the monolith registers exactly once; only the storefront, which the gateway composes, belongs to none', async () => {
    const docs = (await monolith.app.inject({ method: 'GET', url: '/docs/json' })).json<{ paths: Record<string, Record<string, unknown>> }>();
    const routes = Object.entries(docs.paths)
      .filter(([path]) => path.startsWith('/api/'))
      .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));
    // Every module's routes are in the document (a sample of each, so an empty list cannot pass).
    expect(routes).toEqual(expect.arrayContaining([
      'POST /api/v1/auth/signup', 'GET /api/v1/products', 'PUT /api/v1/inventory/{sku}', 'POST /api/v1/orders',
      'GET /api/v1/admin/events/dead-letters', 'GET /api/v1/storefront/home',
    ]));
    const owners = (route: string) => MODULES.filter((m) => m.publicPrefixes.some((prefix) => covers(prefix, route.split(' ')[1]!))).map((m) => m.name);
    const uncovered = routes.filter((r) => owners(r).length === 0);
    const twice = routes.filter((r) => owners(r).length > 1).map((r) => `${r}: ${owners(r).join(', ')}`);
    expect(twice).toEqual([]);
    expect(uncovered).toEqual([`GET ${STOREFRONT_PREFIX}/home`]);
    // Prefixes are distinct and none lies under another module's (the gateway's longest match would split them).
    const all = MODULES.flatMap((m) => m.publicPrefixes.map((prefix) => ({ prefix, module: m.name })));
    for (const a of all) for (const b of all) if (a !== b) expect(covers(a.prefix, b.prefix), `${a.prefix} (${a.module}) covers ${b.prefix} (${b.module})`).toBe(false);
  });
});
