import { gatewayCommand, groupCommand, startArgs } from '../plan.ts';
import type { GroupSpec, Topology } from '../topology.ts';
import type { YamlValue } from './yaml.ts';

/** Secrets are never written into generated files; they come from the platform at run time. */
export const SECRET_KEYS = ['JWT_SECRET', 'INTERNAL_SECRET'] as const;

/**
 * The literal environment of one role off this machine: the topology's shared env, the cluster's
 * overrides (`deploy.env`), the group's own, listening on every interface. The secrets are left
 * out here and referenced from a Secret (Kubernetes) or the host's environment (compose).
 */
export function deployEnv(topology: Topology, own: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { ...topology.env, ...topology.deploy.env, ...own, HOST: '0.0.0.0' };
  for (const k of SECRET_KEYS) delete env[k];
  return env;
}

type Resources = GroupSpec['resources'];
type Autoscale = GroupSpec['autoscale'];

interface Workload {
  /** Deployment, Service, HPA and PDB name. */
  name: string;
  component: string;
  replicas: number;
  port: number;
  command: string[];
  env: Record<string, string>;
  resources: Resources;
  autoscale: Autoscale;
}

const labels = (t: Topology, component: string) => ({ 'app.kubernetes.io/name': t.name, 'app.kubernetes.io/component': component });

function deployment(t: Topology, w: Workload): YamlValue {
  const secretName = `${t.name}-secrets`;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: w.name, labels: labels(t, w.component) },
    spec: {
      replicas: w.replicas,
      selector: { matchLabels: labels(t, w.component) },
      // One new pod before an old one goes: capacity never drops during a rollout.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: labels(t, w.component) },
        spec: {
          // The processes drain on SIGTERM (readyz 503, then close); give them time for it.
          terminationGracePeriodSeconds: 30,
          containers: [{
            name: w.component,
            image: t.deploy.image,
            command: w.command,
            ports: [{ name: 'http', containerPort: w.port }],
            env: [
              ...Object.entries(w.env).map(([name, value]) => ({ name, value })),
              ...SECRET_KEYS.map((name) => ({ name, valueFrom: { secretKeyRef: { name: secretName, key: name } } })),
            ],
            readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 },
            // Liveness only restarts a process that stopped answering at all; readiness covers dependencies.
            livenessProbe: { httpGet: { path: '/livez', port: 'http' }, initialDelaySeconds: 20, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
            resources: {
              requests: { cpu: w.resources.cpu, memory: w.resources.memory },
              limits: { cpu: w.resources.cpuLimit, memory: w.resources.memoryLimit },
            },
          }],
        },
      },
    },
  };
}

function service(t: Topology, w: Workload, type: 'ClusterIP' | 'LoadBalancer', port: number): YamlValue {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: w.name, labels: labels(t, w.component) },
    spec: { type, selector: labels(t, w.component), ports: [{ name: 'http', port, targetPort: 'http' }] },
  };
}

function autoscaler(t: Topology, w: Workload): YamlValue {
  const a = w.autoscale ?? { min: w.replicas, max: Math.max(w.replicas * 2, 2), cpuPercent: 70 };
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: w.name, labels: labels(t, w.component) },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: w.name },
      minReplicas: a.min,
      maxReplicas: a.max,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: a.cpuPercent } } }],
    },
  };
}

function disruptionBudget(t: Topology, w: Workload): YamlValue {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: w.name, labels: labels(t, w.component) },
    // A drain takes one pod of a group at a time, whatever its size.
    spec: { maxUnavailable: 1, selector: { matchLabels: labels(t, w.component) } },
  };
}

/** The Deployments' workloads: one per group, and the gateways over the groups' Services. */
export function workloads(t: Topology): { groups: Workload[]; gateway: Workload } {
  const groups = t.groups.map((g): Workload => ({
    name: `${t.name}-${g.name}`, component: g.name, replicas: g.instances, port: g.port,
    command: ['node', ...startArgs(groupCommand(t, g, g.port))],
    env: deployEnv(t, g.env), resources: g.resources, autoscale: g.autoscale,
  }));
  // A Service per group balances across its pods (kube-proxy); today there are only all groups,
  // so the gateways send every route to them. Service groups will need a routes file by prefix.
  const upstreams = groups.map((g) => `http://${g.name}:${g.port}`);
  const gateway: Workload = {
    name: `${t.name}-gateway`, component: 'gateway', replicas: Math.max(1, t.gateways.instances), port: t.gateways.port,
    command: ['node', ...startArgs(gatewayCommand(t, t.gateways.port, upstreams))],
    env: deployEnv(t, t.gateways.env), resources: t.gateways.resources, autoscale: t.gateways.autoscale,
  };
  return { groups, gateway };
}

/**
 * Every object of the cluster, in apply order. The nginx edge is not among them: on a cluster
 * the gateway's LoadBalancer Service (or an Ingress in front of it) is the front door.
 */
export function kubernetesManifests(t: Topology): YamlValue[] {
  const { groups, gateway } = workloads(t);
  return [
    ...groups.flatMap((w) => [deployment(t, w), service(t, w, 'ClusterIP', w.port), autoscaler(t, w), disruptionBudget(t, w)]),
    deployment(t, gateway), service(t, gateway, 'LoadBalancer', 80), autoscaler(t, gateway), disruptionBudget(t, gateway),
  ];
}
