import type { Logger } from 'pino';
import { Compile } from 'typebox/compile';
import { DomainError, type ErrorKind, type FieldIssue } from '../errors/domain-error.ts';
import { createBalancer, type BalancerName } from '../gateway/balancers/index.ts';
import { classify } from '../gateway/forward.ts';
import type { InstanceSeries } from '../gateway/gateway-metrics.ts';
import { DEFAULT_HEALTH_CHECKS, startHealthChecks, type HealthCheckOptions } from '../gateway/health-checker.ts';
import { createUpstreamInstance, type ConnectionOptions, type UpstreamInstance } from '../gateway/upstream-instance.ts';
import { createUpstreamPool, type PoolPolicy, type UpstreamPool } from '../gateway/upstream-pool.ts';
import { DRAINING_HEADER } from '../http/draining.ts';
import { STATUS_BY_KIND } from '../http/problem.ts';
import { DependencyUnavailableError } from '../resilience/dependency-error.ts';
import { UnexpectedAnswerError } from '../resilience/http-dependency.ts';
import { createDependencyPolicy, type CircuitStateName, type DependencyPolicyOptions } from '../resilience/policy.ts';
import type { ContractTable, LocalOnlyMethod, RemoteMethod } from './contract-table.ts';
import { INTERNAL_UNAUTHENTICATED, RpcError } from './errors.ts';
import { INTERNAL_CALL_HEADER, signInternalCall } from './internal-auth.ts';
import { internalPath } from './internal-routes.ts';

export interface HttpClientOptions {
  /** Base URLs of the callee's instances (`http://10.0.0.5:3001`); only the origin is used. */
  urls: readonly string[];
  /** INTERNAL_SECRET, the same as the callee's. */
  secret: string;
  /** This service's name, signed into every call (the callee's logs can say who called). */
  caller: string;
  /** Default 'least-request': a slow instance gets fewer calls. */
  balancer?: BalancerName;
  /**
   * Timeout, retries, breaker and bulkhead for this dependency, over `defaultRpcPolicy`. Retries
   * apply only to the methods the table marks idempotent.
   */
  policy?: DependencyPolicyOptions;
  /** Passive ejection and panic thresholds; the gateway's defaults (DEFAULT_POOL_POLICY) otherwise. */
  pool?: Partial<PoolPolicy>;
  /** Active checks of each instance (`GET /readyz`), or false for none. Default DEFAULT_HEALTH_CHECKS. */
  health?: Partial<HealthCheckOptions> | false;
  connection?: Partial<ConnectionOptions>;
  logger?: Logger;
}

/**
 * A bulkhead by default, so one slow dependency cannot take every request of its caller; a call
 * refused before it was sent says so (the saga then has nothing to compensate for it).
 */
export const defaultRpcPolicy: Readonly<DependencyPolicyOptions> = Object.freeze({ maxConcurrent: 64, maxQueued: 256, notSentOnRefusal: true });

const defaultConnection: ConnectionOptions = Object.freeze({ connections: 16, keepAliveMs: 30_000, connectTimeoutMs: 1_000 });

/** What a remote client offers beyond its contract; see `controlOf`. */
export interface RpcClientControl {
  readonly module: string;
  readonly pool: UpstreamPool;
  circuitState(): CircuitStateName;
  /** Stops health checks and closes every connection. */
  close(): Promise<void>;
}

const CONTROL = Symbol('scalemart.rpc.control');

/** The control side of a client made by `httpClient`. */
export function controlOf(client: object): RpcClientControl {
  const control = (client as { [CONTROL]?: RpcClientControl })[CONTROL];
  if (!control) throw new TypeError('not a client made by httpClient');
  return control;
}

const NO_SERIES: InstanceSeries = {
  requests: { inc() {} },
  latency: { observe() {} },
  errors: { connect: { inc() {} }, reset: { inc() {} }, timeout: { inc() {} }, status: { inc() {} } },
  ejections: { inc() {} },
};

const KIND_BY_STATUS = new Map(Object.entries(STATUS_BY_KIND).map(([kind, status]) => [status, kind as ErrorKind]));

/** The pool had nothing to pick: not worth a retry, and no failure of any instance. */
class NoInstanceError extends Error {}

/**
 * A client of `table`'s contract over HTTP, typed as the contract: each remote method posts to
 * the callee's internal route, balanced over `urls` by the gateway's pool (health checks,
 * ejection, panic mode), under one dependency policy for the whole contract: a timeout whose
 * signal cancels the request, retries with full-jitter backoff on another instance (idempotent
 * methods only), a circuit breaker and a bulkhead. Whatever keeps a call from an answer (every
 * instance down, the circuit open, the bulkhead full, the timeout) rejects with
 * DependencyUnavailableError; a DomainError of the callee is raised again with its code.
 * Local-only methods throw RPC_LOCAL_ONLY (or are absent, when the table says so).
 */
export function httpClient<Api>(table: ContractTable<Api>, options: HttpClientOptions): Api {
  const { module } = table;
  if (options.urls.length === 0) throw new RangeError(`httpClient(${module}): at least one instance URL is required`);
  const connection = { ...defaultConnection, ...options.connection };
  const instances = options.urls.map((url) => createUpstreamInstance({ url, weight: 1, pool: module, connection, series: NO_SERIES }));
  const pool = createUpstreamPool({ name: module, instances, balancer: createBalancer<UpstreamInstance>(options.balancer ?? 'least-request'), policy: options.pool, logger: options.logger });
  const stopChecks = options.health === false ? async () => {} : startHealthChecks(pool, { ...DEFAULT_HEALTH_CHECKS, ...options.health });
  const policy = createDependencyPolicy(module, { ...defaultRpcPolicy, ...options.policy });

  const remote = (name: string, method: RemoteMethod) => {
    const path = internalPath(module, name);
    const input = Compile(method.input);
    const output = Compile(method.output);
    const arity = (method.input as { items?: unknown[] }).items?.length ?? 0;
    return async (...args: unknown[]): Promise<unknown> => {
      const body = JSON.stringify(input.Encode(padded(args, arity)));
      let exclude: UpstreamInstance | undefined;
      const attempt = async (signal: AbortSignal): Promise<unknown> => {
        // A retry goes to another instance when there is one, else to the same.
        const instance = pool.pick(undefined, exclude) ?? (exclude && pool.pick(undefined, undefined));
        if (!instance) throw new NoInstanceError();
        exclude = instance;
        let status: number;
        let text: string;
        instance.inFlight++;
        try {
          const response = await instance.client.request({
            method: 'POST',
            path,
            headers: { 'content-type': 'application/json', accept: 'application/json', [INTERNAL_CALL_HEADER]: signInternalCall(options.secret, options.caller, `POST ${path}`) },
            body,
            signal,
          });
          status = response.statusCode;
          // The callee is shutting down: later calls go to its siblings (it still answers this one).
          if (response.headers[DRAINING_HEADER] !== undefined) pool.draining(instance);
          text = await response.body.text();
        } catch (error) {
          // Aborted by the policy's timeout: the policy reports it; the slow instance takes the blame.
          pool.failed(instance, signal.aborted ? 'timeout' : classify(error));
          if (signal.aborted) throw error;
          throw new DependencyUnavailableError(module, `${instance.id}: ${(error as Error).message}`, { cause: error });
        } finally {
          instance.inFlight--;
        }
        return answer(instance, status, text);
      };

      const answer = (instance: UpstreamInstance, status: number, text: string): unknown => {
        const json = parse(text);
        if (status === 200) {
          pool.succeeded(instance);
          try {
            return output.Decode((json as { result?: unknown } | undefined)?.result);
          } catch (error) {
            throw new UnexpectedAnswerError(module, status, `${name}: the answer does not match the table's output schema`, { cause: error });
          }
        }
        const problem = (json ?? {}) as { code?: unknown; detail?: unknown; errors?: FieldIssue[] };
        const code = typeof problem.code === 'string' ? problem.code : undefined;
        const detail = typeof problem.detail === 'string' ? problem.detail : text.slice(0, 200);
        if (status >= 500) {
          // The callee's own dependency is down: the instance is fine, the answer still is "not now".
          if (code === 'DEPENDENCY_UNAVAILABLE') pool.succeeded(instance);
          else pool.failed(instance, 'status');
          throw new DependencyUnavailableError(module, `${name} answered ${status}${code ? ` ${code}` : ''}: ${detail}`);
        }
        pool.succeeded(instance);
        if (status === 401 && code === INTERNAL_UNAUTHENTICATED) throw new RpcError('RPC_UNAUTHENTICATED', `${module} refused the call's signature: ${detail}`);
        const kind = KIND_BY_STATUS.get(status);
        if (kind && code) throw new DomainError(kind, code, detail, { fields: problem.errors });
        throw new UnexpectedAnswerError(module, status, `${name}: ${detail}`);
      };

      try {
        return await policy.execute(attempt, { retry: method.idempotent });
      } catch (error) {
        if (error instanceof NoInstanceError) throw new DependencyUnavailableError(module, 'no healthy instance, failing fast');
        throw error;
      }
    };
  };

  const localOnly = (name: string, method: LocalOnlyMethod) => () => {
    throw new RpcError('RPC_LOCAL_ONLY', `${module}.${name} cannot be called across processes: ${method.reason}`);
  };

  const client: Record<string | symbol, unknown> = {};
  for (const [name, method] of Object.entries(table.methods as Record<string, RemoteMethod | LocalOnlyMethod>)) {
    if (method.kind === 'remote') client[name] = remote(name, method);
    else if (!method.absent) client[name] = localOnly(name, method);
  }
  const control: RpcClientControl = {
    module,
    pool,
    circuitState: () => policy.state(),
    close: async () => {
      await stopChecks();
      await pool.close();
    },
  };
  client[CONTROL] = control;
  return Object.freeze(client) as Api;
}

function parse(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `f(a)` is `f(a, undefined)` for a tuple of two: an optional argument (optionalArg) travels as null. */
function padded(args: unknown[], arity: number): unknown[] {
  return args.length >= arity ? args : [...args, ...new Array<undefined>(arity - args.length)];
}
