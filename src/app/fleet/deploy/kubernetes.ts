import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { gatewayCommand, gatewayRoutes, groupCommand, serviceUrls, startArgs, type RoutesFile } from '../plan.ts';
import { moduleOwners, type GroupSpec, type Topology } from '../topology.ts';
import type { YamlValue } from './yaml.ts';

/** Secrets are never written into generated files; they come from the platform at run time. */
export const SECRET_KEYS = ['JWT_SECRET', 'INTERNAL_SECRET'] as const;

/** Where gateways in front of service groups read their routes file, in a pod or a compose container. */
export const ROUTES_FILE = '/etc/scalemart/gateway-routes.json';

/** A routes file as written into the ConfigMap and beside compose.yaml. */
export const routesText = (routes: RoutesFile) => `${JSON.stringify(routes, null, 2)}\n`;

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
  /** Gateways in front of service groups: the ConfigMap holding their routes file, and its text. */
  routes?: { configMap: string; text: string } | undefined;
}

const labels = (t: Topology, component: string) => ({ 'app.kubernetes.io/name': t.name, 'app.kubernetes.io/component': component });

function deployment(t: Topology, w: Workload): YamlValue {
  const secretName = `${t.name}-secrets`;
  const volume = 'gateway-routes';
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
        metadata: {
          labels: labels(t, w.component),
          // The gateway reads its routes once, at start: a changed ConfigMap must roll the pods.
          annotations: w.routes ? { 'scalemart/routes-sha256': createHash('sha256').update(w.routes.text).digest('hex') } : undefined,
        },
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
            volumeMounts: w.routes ? [{ name: volume, mountPath: posix.dirname(ROUTES_FILE), readOnly: true }] : undefined,
          }],
          volumes: w.routes ? [{ name: volume, configMap: { name: w.routes.configMap } }] : undefined,
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

/**
 * The Deployments' workloads: one per group, and the gateways over the groups' Services (a Service
 * per group balances across its pods through kube-proxy). With only `all` groups the gateways send
 * every route to them as one pool. Service groups each get SERVICE_URLS naming the other groups'
 * Services, one URL per module, and the gateways a routes file with a pool per group's Service.
 */
export function workloads(t: Topology): { groups: Workload[]; gateway: Workload } {
  const owners = moduleOwners(t);
  const serviceUrl = (g: GroupSpec) => [`http://${t.name}-${g.name}:${g.port}`];
  const groups = t.groups.map((g): Workload => ({
    name: `${t.name}-${g.name}`, component: g.name, replicas: g.instances, port: g.port,
    command: ['node', ...startArgs(groupCommand(t, g, g.port))],
    // Over any SERVICE_URLS in the env, as `fleet up` does.
    env: owners ? { ...deployEnv(t, g.env), SERVICE_URLS: serviceUrls(owners, g, serviceUrl) } : deployEnv(t, g.env),
    resources: g.resources, autoscale: g.autoscale,
  }));
  const routes = gatewayRoutes(t, serviceUrl);
  const gateway: Workload = {
    name: `${t.name}-gateway`, component: 'gateway', replicas: Math.max(1, t.gateways.instances), port: t.gateways.port,
    command: ['node', ...startArgs(gatewayCommand(t, t.gateways.port, t.groups.flatMap(serviceUrl), routes ? ROUTES_FILE : undefined))],
    env: deployEnv(t, t.gateways.env), resources: t.gateways.resources, autoscale: t.gateways.autoscale,
    routes: routes ? { configMap: `${t.name}-gateway-routes`, text: routesText(routes) } : undefined,
  };
  return { groups, gateway };
}

function routesConfigMap(t: Topology, routes: NonNullable<Workload['routes']>): YamlValue {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: routes.configMap, labels: labels(t, 'gateway') },
    data: { [posix.basename(ROUTES_FILE)]: routes.text },
  };
}

/**
 * Every object of the cluster, in apply order. The nginx edge is not among them: on a cluster
 * the gateway's LoadBalancer Service (or an Ingress in front of it) is the front door.
 */
export function kubernetesManifests(t: Topology): YamlValue[] {
  const { groups, gateway } = workloads(t);
  return [
    ...groups.flatMap((w) => [deployment(t, w), service(t, w, 'ClusterIP', w.port), autoscaler(t, w), disruptionBudget(t, w)]),
    ...(gateway.routes ? [routesConfigMap(t, gateway.routes)] : []),
    deployment(t, gateway), service(t, gateway, 'LoadBalancer', 80), autoscaler(t, gateway), disruptionBudget(t, gateway),
  ];
}
