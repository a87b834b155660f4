import { Pool, type Dispatcher } from 'undici';
import type { Balanced } from './balancers/index.ts';
import type { InstanceSeries } from './gateway-metrics.ts';

/** Connection options of every instance's undici Pool. */
export interface ConnectionOptions {
  /** Most connections to one instance (undici's default is unlimited). */
  connections: number;
  /**
   * How long an idle connection is kept. Below the upstream's own keep-alive (Fastify 5 and Node
   * default to 72 s): the side that closes an idle connection first must be the client, or a
   * request can be written into a socket the server is closing (a reset no retry may repair).
   */
  keepAliveMs: number;
  connectTimeoutMs: number;
}

/**
 * One upstream instance and everything the gateway knows of it. Plain mutable state, changed
 * only by its pool (health, ejection, ramp) and the forwarder (in-flight).
 */
export interface UpstreamInstance extends Balanced {
  /** `host:port`, the label in metrics and the hash identity. */
  readonly id: string;
  readonly origin: string;
  readonly pool: string;
  /** Its own undici Pool: keep-alive connections to this instance only. */
  readonly client: Dispatcher;
  readonly series: InstanceSeries;
  /** Active health: presumed up until a check says otherwise. */
  up: boolean;
  /** Consecutive passed or failed checks (one of them is 0). */
  passes: number;
  fails: number;
  /** Whether any check has completed: the first one decides alone. */
  checked: boolean;
  /** Outlier detection. */
  consecutiveFailures: number;
  ejected: boolean;
  /** Times ejected, less those forgiven by time served since (see PoolPolicy.baseEjectionMs). */
  ejections: number;
  /** When the last ejection ended (the pool's clock). */
  returnedAt: number;
  ejectionTimer: NodeJS.Timeout | undefined;
  /** When the current slow start began (performance.now()); ramp < 1 while it lasts. */
  rampStart: number;
}

export function createUpstreamInstance(options: { url: string; weight: number; pool: string; connection: ConnectionOptions; series: InstanceSeries }): UpstreamInstance {
  const url = new URL(options.url);
  const { connections, keepAliveMs, connectTimeoutMs } = options.connection;
  const client = new Pool(url.origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: keepAliveMs,
    keepAliveMaxTimeout: keepAliveMs,
    connectTimeout: connectTimeoutMs,
  });
  return {
    id: url.host,
    origin: url.origin,
    pool: options.pool,
    weight: options.weight,
    client,
    series: options.series,
    ramp: 1,
    inFlight: 0,
    up: true,
    passes: 0,
    fails: 0,
    checked: false,
    consecutiveFailures: 0,
    ejected: false,
    ejections: 0,
    returnedAt: 0,
    ejectionTimer: undefined,
    rampStart: 0,
  };
}
