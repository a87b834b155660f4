import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { edgeUpstreams, planFleet, publicUrl } from './plan.ts';
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

  it('names the field of a bad topology', () => {
    expect(() => parseTopology(small({ groups: [{ name: 'all', instances: 0, port: 4101 }] }))).toThrow(/groups\.0\.instances/);
    expect(() => parseTopology(small({ colour: 'blue' }))).toThrow(TopologyError);
    expect(() => parseTopology(small({ groups: [{ name: 'all', instances: 2, port: 40_000 }] }))).toThrow(/groups\.0\.port/);
  });

  it('refuses two processes on one port', () => {
    expect(() => parseTopology(small({ gateways: { instances: 2, port: 4100 } }))).toThrow(/port 4101: both gateway-2 and all-1/);
  });

  it('accepts service groups in the file but refuses to run them, saying why', () => {
    const t = parseTopology(small({ groups: [{ name: 'catalog', role: 'service', modules: ['catalog'], instances: 1, port: 4101 }] }));
    expect(() => assertRunnable(t)).toThrow(/the fleet cannot run service groups yet/);
    expect(() => parseTopology(small({ groups: [{ name: 'x', role: 'service', instances: 1, port: 4101 }] }))).toThrow(/names its modules/);
    expect(() => assertRunnable(parseTopology(small()))).not.toThrow();
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
