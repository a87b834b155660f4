import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { planFleet } from '../plan.ts';
import { DEFAULT_TOPOLOGY, parseTopology, type Topology } from '../topology.ts';
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
      // `fleet deploy` refuses service groups (assertDeployable); a third all group instead.
      { name: 'checkout', instances: 1, port: 5301 },
    ],
    env: { LOG_LEVEL: 'warn', JWT_SECRET: 'never-in-a-generated-file-0123456789' },
    deploy: { image: 'registry.example/shop:1.2.3', env: { DATABASE_URL: 'postgres://db/shop' } },
  })],
];

/** Shared env, the cluster's overrides, the group's own; secrets never literal. */
function expectedEnv(t: Topology, own: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { ...t.env, ...t.deploy.env, ...own, HOST: '0.0.0.0' };
  return Object.fromEntries(Object.entries(env).filter(([k]) => k !== 'JWT_SECRET' && k !== 'INTERNAL_SECRET'));
}

const envOf = (container: any): Record<string, string> =>
  Object.fromEntries(container.env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]));

describe.each(topologies)('deploy/ generated from %s', (_, t) => {
  const files = deployFiles(t, { nodeVersion: '24.21.0' });
  const docs = parseAllDocuments(files['kubernetes.yaml']!).map((d) => d.toJS() as any);
  const of = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name);
  // What `fleet up` runs for each role on this machine.
  const local = planFleet(t, secrets, '/tmp/d');

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
      expect(envOf(c)).toEqual(expectedEnv(t, g.env));
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
    expect(c.command).toEqual(['node', ...gateway.args.map((a) => (a.startsWith('http://') ? upstreams.join(',') : a))]);
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
      expect(s.environment).toEqual({ ...expectedEnv(t, own), JWT_SECRET: '${JWT_SECRET:?set JWT_SECRET (32+ characters)}', INTERNAL_SECRET: '${INTERNAL_SECRET:?set INTERNAL_SECRET (32+ characters)}' });
      expect(s.ports).toEqual(p.role === 'gateway' ? [`${p.port}:${p.port}`] : []);
    }
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['postgres', 'redis', 'nats']));
  });

  it('never writes a secret value', () => {
    for (const text of Object.values(files)) expect(text).not.toContain('never-in-a-generated-file');
  });
});

describe('the committed deploy/', () => {
  it('is what `scalemart fleet deploy` generates from deploy/topology.json today', async () => {
    const t = parseTopology(JSON.parse(readFileSync('deploy/topology.json', 'utf8')));
    const files = deployFiles(t, { nodeVersion: await pinnedNodeVersion('.') });
    for (const [name, text] of Object.entries(files)) expect(readFileSync(`deploy/${name}`, 'utf8'), `deploy/${name} is stale: run scalemart fleet deploy`).toBe(text);
  });
});
