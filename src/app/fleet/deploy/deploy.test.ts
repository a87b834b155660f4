import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../../platform/config/config.ts';
import { parseRouteTable, type RouteTable } from '../../../platform/gateway/routes-file.ts';
import { MODULES } from '../../modules.ts';
import { planFleet } from '../plan.ts';
import { DEFAULT_TOPOLOGY, parseTopology, type GroupSpec, type Topology } from '../topology.ts';
import { deployFiles, pinnedNodeVersion } from './index.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- parsed YAML is read field by field */
const secrets = { JWT_SECRET: 'j'.repeat(32), INTERNAL_SECRET: 'i'.repeat(32) };

const topologies: [string, Topology][] = [
  ['the default', parseTopology(DEFAULT_TOPOLOGY)],
  ['three groups with their own env', parseTopology({
    version: 1, name: 'shop', stage: 'scaled', edge: { enabled: false },
    gateways: { instances: 3, port: 5001, balancer: 'hash', env: { GATEWAY_RETRIES: '1' } },
    groups: [
      { name: 'all', instances: 2, port: 5101, env: { CACHE_MODE: 'l1' } },
      { name: 'browse', instances: 3, port: 5201, autoscale: { min: 3, max: 9 } },
      { name: 'checkout', instances: 1, port: 5301 },
    ],
    env: { LOG_LEVEL: 'warn', JWT_SECRET: 'never-in-a-generated-file-0123456789' },
    deploy: { image: 'registry.example/shop:1.2.3', env: { DATABASE_URL: 'postgres://db/shop' } },
  })],
];

/** Topologies of service groups: each runs every module once between its groups. */
const serviceTopologies: [string, Topology][] = [
  ['the shipped service groups', parseTopology(JSON.parse(readFileSync('deploy/topology.services.json', 'utf8')))],
  ['service groups of another name, balancer and sizes, under a stale SERVICE_URLS', parseTopology({
    version: 1, name: 'mall', edge: { enabled: false },
    gateways: { instances: 2, port: 6001, balancer: 'round-robin' },
    groups: [
      { name: 'users', role: 'service', modules: ['identity'], instances: 1, port: 6101 },
      { name: 'shelf', role: 'service', modules: ['catalog', 'inventory'], instances: 3, port: 6201 },
      { name: 'till', role: 'service', modules: ['orders', 'payments', 'shipping', 'notifications'], instances: 2, port: 6301, env: { LOG_LEVEL: 'debug' } },
    ],
    env: { SERVICE_URLS: 'catalog=http://stale:1', DATABASE_URL: 'postgres://127.0.0.1/mall' },
    deploy: { image: 'registry.example/mall:2', env: { DATABASE_URL: 'postgres://db/mall', REDIS_URL: 'redis://cache:6379', NATS_URL: 'nats://bus:4222' } },
  })],
];

/** The path the gateways read their routes from, where `fleet deploy` mounts it. */
const ROUTES_PATH = '/etc/scalemart/gateway-routes.json';

/** The group that runs each module, found by reading the topology (not with the code under test). */
const ownerOf = (t: Topology, module: string) => t.groups.find((g) => g.modules?.includes(module))!;

/** The pool the gateway sends a path to: the longest matching prefix, as the gateway routes. */
const poolOf = (table: RouteTable, path: string) =>
  table.routes.filter((r) => path === r.prefix || path.startsWith(`${r.prefix}/`)).sort((a, b) => b.prefix.length - a.prefix.length)[0]?.pool;

/** Each pool of a routes table as its balancer and upstream URLs. */
const poolsOf = (table: RouteTable) => Object.fromEntries(Object.entries(table.pools).map(([name, pool]) => [name, [pool.balancer, pool.upstreams.map((u) => u.url)]]));

/** What a service process of group `g` makes of its env's SERVICE_URLS, with the role and modules its command line gives it. */
function serviceUrlsSeenBy(t: Topology, g: GroupSpec, env: Record<string, string>): Record<string, string[]> {
  return loadConfig({ ...env, SCALEMART_ROLE: 'service', SCALEMART_MODULES: g.modules!.join(','), SCALEMART_STAGE: t.stage, ...secrets }).service.urls;
}

/** Shared env, the cluster's overrides, the group's own; secrets never literal. */
function expectedEnv(t: Topology, own: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { ...t.env, ...t.deploy.env, ...own, HOST: '0.0.0.0' };
  return Object.fromEntries(Object.entries(env).filter(([k]) => k !== 'JWT_SECRET' && k !== 'INTERNAL_SECRET'));
}

const envOf = (container: any): Record<string, string> =>
  Object.fromEntries(container.env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]));

/** The generated files, the Kubernetes objects parsed, and what `fleet up` runs for each role on this machine. */
function generate(t: Topology) {
  const files = deployFiles(t, { nodeVersion: '24.21.0' });
  const docs = parseAllDocuments(files['kubernetes.yaml']!).map((d) => d.toJS() as any);
  const of = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name);
  // The local gateways' routes file where deploy/ mounts it: their command lines are then the same.
  const local = planFleet(t, secrets, '/tmp/d', undefined, undefined, ROUTES_PATH);
  return { files, docs, of, local, compose: parse(files['compose.yaml']!) as any };
}

describe.each([...topologies, ...serviceTopologies])('deploy/ generated from %s', (_, t) => {
  const { files, of, local } = generate(t);
  const services = t.groups.filter((g) => g.role === 'service');

  it('has a Deployment per group with /readyz and /livez probes on its port, resources, the topology env and the fleet runner\'s command', () => {
    for (const g of t.groups) {
      const d = of('Deployment', `${t.name}-${g.name}`);
      expect(d, g.name).toBeDefined();
      expect(d.spec.replicas).toBe(g.instances);
      const [c] = d.spec.template.spec.containers;
      expect(c.image).toBe(t.deploy.image);
      expect(c.ports).toEqual([{ name: 'http', containerPort: g.port }]);
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
      expect(c.livenessProbe.httpGet).toEqual({ path: '/livez', port: 'http' });
      expect(c.resources).toEqual({ requests: { cpu: g.resources.cpu, memory: g.resources.memory }, limits: { cpu: g.resources.cpuLimit, memory: g.resources.memoryLimit } });
      // A service group's SERVICE_URLS is the fleet's, over any in the env (checked below); others keep the env's.
      const { SERVICE_URLS, ...env } = envOf(c);
      const { SERVICE_URLS: given, ...expected } = expectedEnv(t, g.env);
      expect(env).toEqual(expected);
      expect(SERVICE_URLS === given, g.name).toBe(g.role !== 'service');
      expect(c.env.filter((e: any) => e.valueFrom).map((e: any) => [e.name, e.valueFrom.secretKeyRef.name])).toEqual([['JWT_SECRET', `${t.name}-secrets`], ['INTERNAL_SECRET', `${t.name}-secrets`]]);
      // The first local instance of the group listens on the group's port: the same command line.
      const first = local.find((p) => p.group === g.name)!;
      expect(c.command).toEqual(['node', ...first.args]);
      expect(of('HorizontalPodAutoscaler', `${t.name}-${g.name}`).spec.scaleTargetRef.name).toBe(`${t.name}-${g.name}`);
      expect(of('PodDisruptionBudget', `${t.name}-${g.name}`).spec.selector.matchLabels).toEqual(d.spec.selector.matchLabels);
      expect(of('Service', `${t.name}-${g.name}`).spec.ports).toEqual([{ name: 'http', port: g.port, targetPort: 'http' }]);
    }
  });

  it('puts the gateways behind a Service, with probes, HPA and PDB, and the fleet runner\'s gateway command over the groups\' Services', () => {
    const d = of('Deployment', `${t.name}-gateway`);
    const [c] = d.spec.template.spec.containers;
    expect(c.ports).toEqual([{ name: 'http', containerPort: t.gateways.port }]);
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(c.livenessProbe.httpGet.path).toBe('/livez');
    expect(envOf(c)).toEqual(expectedEnv(t, t.gateways.env));
    const upstreams = t.groups.map((g) => `http://${t.name}-${g.name}:${g.port}`);
    const gateway = local.find((p) => p.role === 'gateway')!;
    // One pool over the groups' Services (`--upstream`), or the routes file for service groups.
    expect(c.command).toEqual(['node', ...gateway.args.map((a) => (a.startsWith('http://') ? upstreams.join(',') : a))]);
    expect(c.command.includes('--routes')).toBe(services.length > 0);
    expect(c.command.includes('--upstream')).toBe(services.length === 0);
    const service = of('Service', `${t.name}-gateway`);
    expect(service.spec.type).toBe('LoadBalancer');
    expect(service.spec.selector).toEqual(d.spec.selector.matchLabels);
    expect(of('HorizontalPodAutoscaler', `${t.name}-gateway`)).toBeDefined();
    expect(of('PodDisruptionBudget', `${t.name}-gateway`)).toBeDefined();
  });

  it('builds one image on the pinned Node whose command is an instance\'s, as the fleet runs it', () => {
    const dockerfile = files.Dockerfile!;
    expect(dockerfile).toMatch(/^FROM node:24\.21\.0-bookworm-slim$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    const cmd = JSON.parse(/^CMD (.+)$/m.exec(dockerfile)![1]!) as string[];
    expect(cmd).toEqual(['node', ...local.find((p) => p.group === t.groups[0]!.name)!.args]);
    expect(dockerfile).toContain(`EXPOSE ${t.groups[0]!.port}`);
  });

  it('writes a compose file with every process of the local fleet: same commands, ports, env, and a readiness check', () => {
    const compose = parse(files['compose.yaml']!) as any;
    for (const p of local) {
      const s = compose.services[p.name];
      expect(s, p.name).toBeDefined();
      const args = p.args.map((a) => a.replace(/http:\/\/127\.0\.0\.1:(\d+)/g, (_m, port: string) => `http://${local.find((q) => q.port === Number(port))!.name}:${port}`));
      expect(s.command).toEqual(['node', ...args]);
      expect(s.image).toBe(t.deploy.image);
      expect(s.healthcheck.test.join(' ')).toContain(`http://127.0.0.1:${p.port}/readyz`);
      const own = t.groups.find((g) => g.name === p.group)?.env ?? t.gateways.env;
      const { SERVICE_URLS, ...environment } = s.environment;
      const { SERVICE_URLS: given, ...expected } = expectedEnv(t, own);
      expect(SERVICE_URLS === given, p.name).toBe(p.role !== 'service');
      expect(environment).toEqual({ ...expected, JWT_SECRET: '${JWT_SECRET:?set JWT_SECRET (32+ characters)}', INTERNAL_SECRET: '${INTERNAL_SECRET:?set INTERNAL_SECRET (32+ characters)}' });
      expect(s.ports).toEqual(p.role === 'gateway' ? [`${p.port}:${p.port}`] : []);
    }
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['postgres', 'redis', 'nats']));
  });

  it('never writes a secret value', () => {
    for (const text of Object.values(files)) expect(text).not.toContain('never-in-a-generated-file');
  });
});

describe.each(serviceTopologies)('deploy/ generated from %s (service groups)', (_, t) => {
  const { files, docs, of, local, compose } = generate(t);
  const services = t.groups.filter((g) => g.role === 'service');
  const instancesOf = (g: GroupSpec) => Array.from({ length: g.instances }, (_, i) => ({ name: `${g.name}-${i + 1}`, port: g.port + i }));
  const elsewhere = (g: GroupSpec) => MODULES.map((m) => m.name).filter((m) => !g.modules!.includes(m)).sort();

  it('tells each service group\'s pods where every module it does not run is: the owning group\'s Service and port', () => {
    for (const g of services) {
      const [c] = of('Deployment', `${t.name}-${g.name}`).spec.template.spec.containers;
      const urls = serviceUrlsSeenBy(t, g, envOf(c));
      expect(Object.keys(urls).sort(), g.name).toEqual(elsewhere(g));
      for (const module of elsewhere(g)) {
        const owner = ownerOf(t, module);
        // One URL: the owner's Service, which balances over its pods.
        expect(urls[module as keyof typeof urls], `${g.name}: ${module}`).toEqual([`http://${t.name}-${owner.name}:${owner.port}`]);
        const svc = of('Service', `${t.name}-${owner.name}`);
        expect(svc.spec.ports[0].port).toBe(owner.port);
        expect(svc.spec.selector).toEqual(of('Deployment', `${t.name}-${owner.name}`).spec.template.metadata.labels);
      }
    }
  });

  it('gives the gateways their routes in a ConfigMap, mounted read-only where their command reads it, each module prefix to its group\'s Service', () => {
    const map = of('ConfigMap', `${t.name}-gateway-routes`);
    const text = map.data['gateway-routes.json'] as string;
    const table = parseRouteTable(JSON.parse(text));
    expect(poolsOf(table)).toEqual(Object.fromEntries(t.groups.map((g) => [g.name, [t.gateways.balancer, [`http://${t.name}-${g.name}:${g.port}`]]])));
    for (const m of MODULES) {
      for (const prefix of m.publicPrefixes) expect(poolOf(table, `${prefix}/x`), prefix).toBe(ownerOf(t, m.name).name);
    }
    expect(poolOf(table, '/api/v1/storefront/home')).toBe(ownerOf(t, 'orders').name);

    const d = of('Deployment', `${t.name}-gateway`);
    const pod = d.spec.template.spec;
    const [c] = pod.containers;
    const routesArg = c.command[c.command.indexOf('--routes') + 1];
    expect(routesArg).toBe(ROUTES_PATH);
    const [mount] = c.volumeMounts;
    expect(mount.readOnly).toBe(true);
    expect(`${mount.mountPath}/gateway-routes.json`).toBe(routesArg);
    expect(pod.volumes.find((v: any) => v.name === mount.name).configMap.name).toBe(map.metadata.name);
    // The gateway reads the file once, at start: its pods roll when the routes change.
    expect(d.spec.template.metadata.annotations['scalemart/routes-sha256']).toBe(createHash('sha256').update(text).digest('hex'));
    // Applied before the gateways that mount it.
    expect(docs.indexOf(map)).toBeLessThan(docs.indexOf(d));
  });

  it('gives each compose service container the owning instances of every module it does not run, and the gateways the routes file beside compose.yaml', () => {
    for (const g of services) {
      for (const { name } of instancesOf(g)) {
        const urls = serviceUrlsSeenBy(t, g, compose.services[name].environment);
        expect(Object.keys(urls).sort(), name).toEqual(elsewhere(g));
        for (const module of elsewhere(g)) {
          const owners = instancesOf(ownerOf(t, module));
          expect(urls[module as keyof typeof urls], `${name}: ${module}`).toEqual(owners.map((o) => `http://${o.name}:${o.port}`));
          // Each named container exists and listens there.
          for (const o of owners) expect(compose.services[o.name].command.slice(-2)).toEqual(['--port', String(o.port)]);
        }
      }
    }
    const table = parseRouteTable(JSON.parse(files['gateway-routes.json']!));
    expect(poolsOf(table)).toEqual(Object.fromEntries(t.groups.map((g) => [g.name, [t.gateways.balancer, instancesOf(g).map((o) => `http://${o.name}:${o.port}`)]])));
    for (const m of MODULES) for (const prefix of m.publicPrefixes) expect(poolOf(table, prefix), prefix).toBe(ownerOf(t, m.name).name);
    const gateways = local.filter((p) => p.role === 'gateway');
    expect(gateways.length).toBe(t.gateways.instances);
    for (const p of gateways) {
      const s = compose.services[p.name];
      const routesArg = s.command[s.command.indexOf('--routes') + 1];
      expect(s.volumes).toEqual([`./gateway-routes.json:${routesArg}:ro`]);
    }
  });

  it('starts each compose service group\'s first instance after the previous group\'s first is healthy, as `fleet up` does', () => {
    for (const [i, g] of services.entries()) {
      const dependsOn = compose.services[`${g.name}-1`].depends_on;
      const previous = services[i - 1];
      expect(Object.keys(dependsOn).filter((name) => !['postgres', 'redis', 'nats'].includes(name)), g.name).toEqual(previous ? [`${previous.name}-1`] : []);
      if (previous) expect(dependsOn[`${previous.name}-1`]).toEqual({ condition: 'service_healthy' });
    }
  });

  it('refuses service groups that do not run every module exactly once, as `fleet up` does', () => {
    const missing = parseTopology({ ...t, groups: t.groups.slice(1) });
    expect(() => deployFiles(missing, { nodeVersion: '24.21.0' })).toThrow(/service groups must run every module exactly once: module identity runs in no group/);
  });
});

describe.each(topologies)('deploy/ generated from %s (all groups)', (_, t) => {
  it('writes no routes: one pool, no ConfigMap, no routes file, nothing mounted', () => {
    const { files, docs, local, compose } = generate(t);
    expect(docs.some((d) => d.kind === 'ConfigMap')).toBe(false);
    expect(Object.keys(files)).not.toContain('gateway-routes.json');
    const gateways = local.filter((p) => p.role === 'gateway');
    expect(gateways.length).toBeGreaterThan(0);
    for (const p of gateways) expect(compose.services[p.name].volumes, p.name).toBeUndefined();
  });
});

describe('the committed deploy/', () => {
  it('is what `scalemart fleet deploy` generates from deploy/topology.json today', async () => {
    const t = parseTopology(JSON.parse(readFileSync('deploy/topology.json', 'utf8')));
    const files = deployFiles(t, { nodeVersion: await pinnedNodeVersion('.') });
    for (const [name, text] of Object.entries(files)) expect(readFileSync(`deploy/${name}`, 'utf8'), `deploy/${name} is stale: run scalemart fleet deploy`).toBe(text);
  });
});
