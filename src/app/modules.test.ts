import { describe, expect, it } from 'vitest';
import { MODULE_NAMES } from '../platform/config/config.ts';
import { MODULES, planProcess } from './modules.ts';

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
  });
});
