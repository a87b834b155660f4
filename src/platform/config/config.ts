import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { serviceDatabaseUrl } from '../db/service-database.ts';
import { KEYSPACES } from '../db/sharding/shard-set.ts';

/** The stages of ARCHITECTURE.md: one process on embedded defaults, or a fleet on shared servers. */
export const STAGES = ['monolith', 'scaled'] as const;
export type Stage = (typeof STAGES)[number];

/**
 * What one process runs: every module behind its own HTTP app (`all`), some of them (`service`,
 * with `SCALEMART_MODULES`), or the API gateway in front of such processes.
 */
export const ROLES = ['all', 'gateway', 'service'] as const;
export type ProcessRole = (typeof ROLES)[number];

/** The modules a service process may run (`--modules`), in the order they are built. */
export const MODULE_NAMES = ['identity', 'inventory', 'catalog', 'payments', 'shipping', 'notifications', 'orders'] as const;
export type ModuleName = (typeof MODULE_NAMES)[number];

const moduleList = z.string().transform((raw, ctx) => {
  const names = raw.split(',').map((name) => name.trim()).filter((name) => name !== '');
  const unknown = names.filter((name) => !(MODULE_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0) {
    ctx.addIssue({ code: 'custom', message: `${unknown.length > 0 ? `unknown module ${unknown.join(', ')}; ` : ''}comma-separated names from ${MODULE_NAMES.join(', ')}` });
    return z.NEVER;
  }
  return MODULE_NAMES.filter((name) => names.includes(name));
});

/** `inventory=http://a:4001,http://b:4002;payments=http://c:4003`: each module's instances. */
const serviceUrls = z.string().transform((raw, ctx) => {
  const urls: Partial<Record<ModuleName, string[]>> = {};
  for (const part of raw.split(';').map((p) => p.trim()).filter((p) => p !== '')) {
    const [name, list] = part.split('=', 2).map((s) => s.trim());
    const values = list?.split(',').map((u) => u.trim()) ?? [];
    if (!(MODULE_NAMES as readonly string[]).includes(name ?? '') || values.length === 0 || !values.every((u) => /^https?:\/\/[^,\s]+$/.test(u))) {
      ctx.addIssue({ code: 'custom', message: `"${part}" is not module=http://host:port[,http://…] (modules: ${MODULE_NAMES.join(', ')}); parts separated by ;` });
      return z.NEVER;
    }
    urls[name as ModuleName] = values;
  }
  return urls;
});

/**
 * `64`, `payments=4` or `64;payments=4;inventory=32`: a number for every module's client, and
 * overrides per module (the rest keep `fallback`).
 */
const perModuleLimit = (min: number, fallback: number) => z.string().transform((raw, ctx) => {
  const limits: { all: number; modules: Partial<Record<ModuleName, number>> } = { all: fallback, modules: {} };
  for (const part of raw.split(';').map((p) => p.trim()).filter((p) => p !== '')) {
    const [name, value] = part.includes('=') ? part.split('=', 2).map((x) => x.trim()) : [undefined, part];
    const n = Number(value);
    if ((name !== undefined && !(MODULE_NAMES as readonly string[]).includes(name)) || !Number.isSafeInteger(n) || n < min || n > 100_000) {
      ctx.addIssue({ code: 'custom', message: `"${part}" is not a number (${min} to 100000) or module=number (modules: ${MODULE_NAMES.join(', ')}); parts separated by ;` });
      return z.NEVER;
    }
    if (name === undefined) limits.all = n;
    else limits.modules[name as ModuleName] = n;
  }
  return limits;
});

/** The gateway's balancing strategies (src/platform/gateway/balancers). */
export const GATEWAY_BALANCERS = ['round-robin', 'least-request', 'weighted', 'hash'] as const;

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);

/** Connection pool size by the classic formula: (cores × 2) + effective spindles. */
export function defaultPoolSize(cores = os.availableParallelism(), spindles = 1): number {
  return cores * 2 + spindles;
}

const postgresUrls = z.string().regex(/^(postgres(ql)?:\/\/[^,\s]+)(,postgres(ql)?:\/\/[^,\s]+)*$/, 'comma-separated postgres:// URLs');

const schema = z.object({
  SCALEMART_STAGE: z.enum(STAGES).default('monolith'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0, 65535).default(3000),
  SCALEMART_DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^(postgres(ql)?:\/\/.+|memory:\/\/|pglite:\/\/|)$/, 'a postgres:// URL, pglite://, memory://, or empty for the embedded PostgreSQL server')
    .default(''),
  DB_POOL_SIZE: int(1, 1000).optional(),
  DB_SPINDLES: int(0, 64).default(1),
  SHARD_URLS: postgresUrls.optional(),
  DATABASE_REPLICA_URLS: postgresUrls.optional(),
  DATABASE_PER_SERVICE: z.enum(['true', 'false']).default('false'),
  DB_REPLICA_MAX_LAG_BYTES: int(0).default(16 * 1024 * 1024),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  JWT_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  JWT_TTL_SECONDS: int(60, 60 * 60 * 24 * 30).default(3600),
  INTERNAL_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  ADMIN_EMAIL: z.email().optional(),
  ADMIN_PASSWORD: z.string().min(12, 'at least 12 characters').optional(),
  BODY_LIMIT_BYTES: int(1024, 10 * 1024 * 1024).default(64 * 1024),
  RATE_LIMIT_POINTS: int(1).default(600),
  RATE_LIMIT_WINDOW_SECONDS: int(1, 86_400).default(60),
  RATE_LIMIT_ROUTES: z
    .string()
    .default('{"POST /api/v1/auth/login":20,"POST /api/v1/auth/signup":20}')
    .transform((raw, ctx) => {
      try {
        return z.record(z.string(), z.number().int().positive()).parse(JSON.parse(raw));
      } catch {
        ctx.addIssue({ code: 'custom', message: 'a JSON object of "METHOD /path": points' });
        return z.NEVER;
      }
    }),
  CACHE_MODE: z.enum(['off', 'l1', 'l1l2']).optional(),
  REDIS_URL: z.string().regex(/^rediss?:\/\/.+/, 'a redis:// URL').optional(),
  CACHE_L2_TIMEOUT_MS: int(5, 10_000).default(100),
  CACHE_TTL_SECONDS: int(1, 86_400).default(300),
  CACHE_L1_MAX_ITEMS: int(100).default(100_000),
  HTTP_MAX_AGE_SECONDS: int(0, 86_400).default(30),
  SEED_DEMO_PRODUCTS: int(0, 1_000_000).default(500),
  ORDER_PROCESSING: z.enum(['async', 'sync']).default('async'),
  PROVIDERS_URL: z.union([z.url({ protocol: /^https?$/ }), z.literal('')]).default(''),
  PROVIDER_TIMEOUT_MS: int(10, 120_000).default(2_000),
  EMAIL_URL: z.string().regex(/^(smtps?:\/\/.+|https?:\/\/.+|)$/, 'smtp://…, http://…, or empty for .eml files').default(''),
  NOTIFICATIONS_INVOICE_HOLD_MS: int(0, 60_000).default(0),
  SAGA_STEP_ATTEMPTS: int(1, 20).default(3),
  SAGA_STEP_TIMEOUT_MS: int(10, 600_000).default(10_000),
  EVENTS_MAX_ATTEMPTS: int(1, 100).default(5),
  EVENTS_TRANSPORT: z.enum(['table', 'jetstream']).optional(),
  EVENTS_OUTBOX: z.enum(['table', 'wal']).default('table'),
  NATS_URL: z.string().regex(/^(nats|tls):\/\/[^,\s]+(,(nats|tls):\/\/[^,\s]+)*$/, 'comma-separated nats:// URLs').default('nats://127.0.0.1:4222'),
  EVENTS_STREAM: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, - and _').default('SCALEMART_EVENTS'),
  EVENTS_PARTITIONS: int(1, 256).default(16),
  EVENTS_RETENTION_HOURS: int(1, 24 * 365).default(24 * 7),
  EVENTS_DEDUP_WINDOW_SECONDS: int(1, 24 * 3600).default(120),
  EVENTS_BATCH: int(1, 10_000).default(256),
  EVENTS_LEASE_MS: int(1_000, 600_000).default(6_000),
  SAGA_LEASE_MS: int(500, 600_000).default(15_000),
  SHUTDOWN_TIMEOUT_MS: int(100, 120_000).default(10_000),
  SCALEMART_ROLE: z.enum(ROLES).default('all'),
  SCALEMART_MODULES: moduleList.optional(),
  SERVICE_URLS: serviceUrls.optional(),
  SERVICE_CALL_CONCURRENCY: perModuleLimit(1, 64).default({ all: 64, modules: {} }),
  SERVICE_CALL_QUEUE: perModuleLimit(0, 256).default({ all: 256, modules: {} }),
  GATEWAY_UPSTREAMS: z.string().regex(/^https?:\/\/[^,\s]+(,https?:\/\/[^,\s]+)*$/, 'comma-separated http:// URLs').optional(),
  GATEWAY_ROUTES_FILE: z.string().min(1).optional(),
  GATEWAY_BALANCER: z.enum(GATEWAY_BALANCERS).default('least-request'),
  GATEWAY_HASH_KEY: z.string().regex(/^(ip|header:[A-Za-z0-9-]+)$/, '"ip" or "header:<name>"').default('ip'),
  GATEWAY_HEALTH_INTERVAL_MS: int(10, 600_000).default(2_000),
  GATEWAY_HEALTH_TIMEOUT_MS: int(10, 600_000).default(1_000),
  GATEWAY_HEALTH_RISE: int(1, 100).default(2),
  GATEWAY_HEALTH_FALL: int(1, 100).default(3),
  GATEWAY_EJECT_CONSECUTIVE: int(1, 1000).default(5),
  GATEWAY_EJECT_BASE_MS: int(10, 3_600_000).default(30_000),
  GATEWAY_EJECT_MAX_MS: int(10, 3_600_000).default(300_000),
  GATEWAY_EJECT_MAX_PERCENT: int(0, 100).default(50),
  GATEWAY_SLOW_START_MS: int(0, 600_000).default(10_000),
  GATEWAY_PANIC_PERCENT: int(0, 100).default(50),
  GATEWAY_TRY_TIMEOUT_MS: int(10, 600_000).default(5_000),
  GATEWAY_TIMEOUT_MS: int(10, 600_000).default(15_000),
  GATEWAY_RETRIES: int(0, 10).default(2),
  GATEWAY_RETRY_BUDGET_PERCENT: int(0, 100).default(20),
  GATEWAY_RETRY_MIN_PER_SECOND: int(0, 100_000).default(10),
  GATEWAY_CONNECTIONS: int(1, 10_000).default(128),
  GATEWAY_KEEPALIVE_MS: int(100, 71_000).default(60_000),
  GATEWAY_CONNECT_TIMEOUT_MS: int(10, 60_000).default(1_000),
  GATEWAY_DRAIN_GRACE_MS: int(0, 120_000).default(5_000),
  GATEWAY_RATE_LIMIT_LEASE: int(1, 10_000).default(100),
  TRUSTED_PROXIES: z.string().regex(/^[0-9a-fA-F.:/]+(,[0-9a-fA-F.:/]+)*$/, 'comma-separated IP addresses or CIDRs').optional(),
  GATEWAY_TRUSTED_PROXIES: z.string().regex(/^[0-9a-fA-F.:/]+(,[0-9a-fA-F.:/]+)*$/, 'comma-separated IP addresses or CIDRs').optional(),
  SHUTDOWN_DRAIN_MS: int(0, 60_000).optional(),
  STOREFRONT_PART_DEADLINE_MS: int(10, 10_000).default(300),
});

/** The gateway role's settings (`--role gateway`); defaults in the schema above. */
export interface GatewayConfig {
  /** The simple form: every `/api/v1` route to one pool of these. */
  upstreams: string[];
  /** The full form: a JSON routes file (src/platform/gateway/routes-file.ts); wins over `upstreams`. */
  routesFile?: string;
  balancer: (typeof GATEWAY_BALANCERS)[number];
  hashKey: 'ip' | `header:${string}`;
  health: { intervalMs: number; timeoutMs: number; rise: number; fall: number };
  outlier: { consecutiveFailures: number; baseEjectionMs: number; maxEjectionMs: number; maxEjectionPercent: number };
  slowStartMs: number;
  panicThresholdPercent: number;
  tryTimeoutMs: number;
  timeoutMs: number;
  retries: number;
  retryBudget: { percent: number; minPerSecond: number };
  connections: number;
  keepAliveMs: number;
  connectTimeoutMs: number;
  drainGraceMs: number;
  /** Most points a gateway takes from Redis at once (an eighth of what is left, at most this; 1: a Redis call per request). */
  rateLimitLease: number;
  /** Balancers in front whose X-Forwarded-For names the client (addresses or CIDRs); empty: none. */
  trustedProxies: string[];
}

/** The service role's settings (`--role service --modules …`). */
export interface ServiceConfig {
  /** The modules this process builds, serves and runs the background work of (all of them for `--role all`). */
  modules: ModuleName[];
  /** Where the instances of each module this process does not run are (`SERVICE_URLS`). */
  urls: Partial<Record<ModuleName, string[]>>;
  /**
   * The bulkhead of the client of each other service's contract (`bulkheadFor`): calls running at
   * once (retries and backoff included) and calls waiting for a slot; one more is refused at once.
   */
  calls: Record<'maxConcurrent' | 'maxQueued', { all: number; modules: Partial<Record<ModuleName, number>> }>;
}

/** The bulkhead of this process's client of `module`'s contract. */
export function bulkheadFor(service: ServiceConfig, module: ModuleName): { maxConcurrent: number; maxQueued: number } {
  const { maxConcurrent, maxQueued } = service.calls;
  return { maxConcurrent: maxConcurrent.modules[module] ?? maxConcurrent.all, maxQueued: maxQueued.modules[module] ?? maxQueued.all };
}

export interface Config {
  stage: Stage;
  role: ProcessRole;
  service: ServiceConfig;
  gateway: GatewayConfig;
  host: string;
  port: number;
  dataDir: string;
  /** `''` means the embedded PostgreSQL server under dataDir; `pglite://` PGlite under dataDir; `memory://` an in-memory PGlite. */
  databaseUrl: string;
  /**
   * A service process keeps its modules' tables in a database of its own (`DATABASE_PER_SERVICE`):
   * `databaseUrl`, `shardUrls` and `replicaUrls` already name it, and it is created at start.
   */
  databasePerService: boolean;
  dbPoolSize: number;
  /** Orders and inventory shards, in jump-hash order; they seed the shard map on first start. Empty: the main database is the one shard. */
  shardUrls: string[];
  /** Streaming replicas of DATABASE_URL: plain reads go there (read-your-writes per client). */
  replicaUrls: string[];
  /** A replica further behind the primary than this many bytes of WAL is skipped. */
  replicaMaxLagBytes: number;
  logLevel: z.infer<typeof schema>['LOG_LEVEL'];
  jwtSecret?: string;
  jwtTtlSeconds: number;
  /**
   * Shared by gateways and upstreams: signs the principal a gateway forwards (`x-scalemart-principal`).
   * Unset: an upstream ignores that header, whatever it carries.
   */
  internalSecret?: string;
  admin?: { email: string; password: string };
  bodyLimitBytes: number;
  rateLimit: { points: number; windowSeconds: number; routes: Record<string, number> };
  /** Gateways or balancers in front of this instance whose X-Forwarded-For names the client (addresses or CIDRs). */
  trustedProxies: string[];
  cache: { mode: 'off' | 'l1' | 'l1l2'; ttlSeconds: number; l1MaxItems: number; redisUrl?: string; l2TimeoutMs: number };
  httpMaxAgeSeconds: number;
  seedDemoProducts: number;
  shutdownTimeoutMs: number;
  /** On SIGTERM, how long `/readyz` answers 503 while requests are still served, so balancers take the instance out first. */
  shutdownDrainMs: number;
  /** How long `GET /storefront/home` waits for each of its parts before answering without it. */
  storefrontPartDeadlineMs: number;
  orders: { processing: 'async' | 'sync'; stepAttempts: number; stepTimeoutMs: number };
  /** Empty: in-process simulated providers. Otherwise the base URL of the payment/carrier/warehouse APIs. */
  providers: { url: string; timeoutMs: number };
  notifications: { emailUrl: string; invoiceHoldMs: number };
  events: {
    maxAttempts: number;
    /** `table`: the log is a table in the main database (the monolith). `jetstream`: a NATS JetStream stream (the scaled stage's default). */
    transport: 'table' | 'jetstream';
    /**
     * Where each database keeps the events its transactions commit until the relay publishes them:
     * `table` (events.outbox), or `wal` (logical decoding messages read from a replication slot;
     * PostgreSQL 14+ with wal_level = logical, as `scalemart infra up` runs it).
     */
    outbox: 'table' | 'wal';
    nats: { url: string; stream: string; partitions: number; retentionHours: number; dedupWindowSeconds: number; batch: number; leaseMs: number };
  };
  /** How long a process owns a saga it works on before another may take it over; renewed while it works. */
  sagaLeaseMs: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses and validates configuration from an environment map. Throws a ConfigError whose message is
 * one line naming the variable and what it expects. Only `app/` passes `process.env` here.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const defined = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(defined);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? 'configuration');
    throw new ConfigError(`${name}: ${issue.message} (got ${JSON.stringify(env[name] ?? '')})`);
  }
  const c = parsed.data;
  if (c.SCALEMART_ROLE === 'gateway') {
    if (!c.JWT_SECRET) throw new ConfigError('JWT_SECRET: required for the gateway role, the same as the upstreams\' (at least 32 characters)');
    if (!c.INTERNAL_SECRET) throw new ConfigError('INTERNAL_SECRET: required for the gateway role, the same as the upstreams\' (at least 32 characters)');
    if (!c.GATEWAY_UPSTREAMS && !c.GATEWAY_ROUTES_FILE) throw new ConfigError('GATEWAY_UPSTREAMS: the gateway needs --upstream URL,… or a routes file (--routes FILE / GATEWAY_ROUTES_FILE)');
  }
  if (c.SCALEMART_ROLE === 'service') {
    if (!c.SCALEMART_MODULES) throw new ConfigError(`SCALEMART_MODULES: the service role needs --modules with names from ${MODULE_NAMES.join(', ')}`);
    if (!c.DATABASE_URL.startsWith('postgres')) throw new ConfigError('DATABASE_URL: the service role needs the PostgreSQL database the services share (postgres://…)');
    if (!c.JWT_SECRET) throw new ConfigError('JWT_SECRET: the service role needs the secret every service shares (at least 32 characters)');
    if (!c.INTERNAL_SECRET) throw new ConfigError('INTERNAL_SECRET: the service role signs and checks calls between services with it (at least 32 characters, the same in every service)');
  } else if (c.SCALEMART_MODULES) {
    throw new ConfigError('SCALEMART_MODULES: only the service role (--role service) takes a module list');
  }
  if (c.DATABASE_PER_SERVICE === 'true' && c.SCALEMART_ROLE === 'all') {
    throw new ConfigError('DATABASE_PER_SERVICE: only service processes (--role service) have databases of their own; --role all keeps every module in DATABASE_URL');
  }
  const perService = c.DATABASE_PER_SERVICE === 'true' && c.SCALEMART_ROLE === 'service';
  const eventsTransport = c.EVENTS_TRANSPORT ?? (c.SCALEMART_STAGE === 'scaled' ? 'jetstream' : 'table');
  // The table log lives in one database; services with databases of their own meet on the broker.
  if (perService && eventsTransport !== 'jetstream') {
    throw new ConfigError('DATABASE_PER_SERVICE: services with databases of their own exchange events over JetStream; set EVENTS_TRANSPORT=jetstream (the scaled stage\'s default)');
  }
  if (c.EVENTS_OUTBOX === 'wal' && !c.DATABASE_URL.startsWith('postgres')) {
    throw new ConfigError('EVENTS_OUTBOX: wal needs DATABASE_URL to be a PostgreSQL server with wal_level = logical (postgres://…); the embedded databases keep the outbox table');
  }
  // Under DATABASE_PER_SERVICE every URL names this service's database on the same server.
  const ownDatabase = (url: string) => (perService ? serviceDatabaseUrl(url, c.SCALEMART_MODULES ?? []) : url);
  if (c.SCALEMART_STAGE === 'scaled' && c.SCALEMART_ROLE !== 'gateway') {
    if (!c.DATABASE_URL.startsWith('postgres')) throw new ConfigError('DATABASE_URL: the scaled stage needs PostgreSQL (postgres://…); `scalemart infra up` prints the URLs');
    if (!c.REDIS_URL) throw new ConfigError('REDIS_URL: the scaled stage needs Redis for its shared cache (e.g. redis://127.0.0.1:6379)');
    // The monolith keeps a generated secret under its data directory; instances behind a balancer
    // must share one, or a token signed by one instance is refused by the next.
    if (!c.JWT_SECRET) throw new ConfigError('JWT_SECRET: the scaled stage needs one secret (at least 32 characters) shared by every instance');
  }
  // The monolith keeps its cache in process; the scaled stage shares an L2 across instances.
  const cacheMode = c.CACHE_MODE ?? (c.SCALEMART_STAGE === 'scaled' ? 'l1l2' : 'l1');
  if (cacheMode === 'l1l2' && !c.REDIS_URL && c.SCALEMART_ROLE !== 'gateway') {
    throw new ConfigError('REDIS_URL: required when CACHE_MODE=l1l2 (e.g. redis://127.0.0.1:6379)');
  }
  if (c.DATABASE_REPLICA_URLS && !c.DATABASE_URL.startsWith('postgres')) {
    throw new ConfigError('DATABASE_REPLICA_URLS: needs DATABASE_URL to be the postgres:// URL of their primary');
  }
  if (c.SHARD_URLS && !c.DATABASE_URL.startsWith('postgres')) {
    throw new ConfigError('SHARD_URLS: needs DATABASE_URL to be a postgres:// URL (the shard map lives on the main database)');
  }
  if ((c.ADMIN_EMAIL === undefined) !== (c.ADMIN_PASSWORD === undefined)) {
    throw new ConfigError('ADMIN_EMAIL/ADMIN_PASSWORD: set both or neither');
  }
  return {
    stage: c.SCALEMART_STAGE,
    role: c.SCALEMART_ROLE,
    service: {
      modules: c.SCALEMART_MODULES ?? [...MODULE_NAMES], urls: c.SERVICE_URLS ?? {},
      calls: { maxConcurrent: c.SERVICE_CALL_CONCURRENCY, maxQueued: c.SERVICE_CALL_QUEUE },
    },
    internalSecret: c.INTERNAL_SECRET,
    gateway: {
      upstreams: c.GATEWAY_UPSTREAMS?.split(',') ?? [],
      routesFile: c.GATEWAY_ROUTES_FILE,
      balancer: c.GATEWAY_BALANCER,
      hashKey: c.GATEWAY_HASH_KEY.toLowerCase() as GatewayConfig['hashKey'],
      health: { intervalMs: c.GATEWAY_HEALTH_INTERVAL_MS, timeoutMs: c.GATEWAY_HEALTH_TIMEOUT_MS, rise: c.GATEWAY_HEALTH_RISE, fall: c.GATEWAY_HEALTH_FALL },
      outlier: { consecutiveFailures: c.GATEWAY_EJECT_CONSECUTIVE, baseEjectionMs: c.GATEWAY_EJECT_BASE_MS, maxEjectionMs: c.GATEWAY_EJECT_MAX_MS, maxEjectionPercent: c.GATEWAY_EJECT_MAX_PERCENT },
      slowStartMs: c.GATEWAY_SLOW_START_MS,
      panicThresholdPercent: c.GATEWAY_PANIC_PERCENT,
      tryTimeoutMs: c.GATEWAY_TRY_TIMEOUT_MS,
      timeoutMs: c.GATEWAY_TIMEOUT_MS,
      retries: c.GATEWAY_RETRIES,
      retryBudget: { percent: c.GATEWAY_RETRY_BUDGET_PERCENT, minPerSecond: c.GATEWAY_RETRY_MIN_PER_SECOND },
      connections: c.GATEWAY_CONNECTIONS,
      keepAliveMs: c.GATEWAY_KEEPALIVE_MS,
      connectTimeoutMs: c.GATEWAY_CONNECT_TIMEOUT_MS,
      drainGraceMs: c.GATEWAY_DRAIN_GRACE_MS,
      rateLimitLease: c.GATEWAY_RATE_LIMIT_LEASE,
      trustedProxies: c.GATEWAY_TRUSTED_PROXIES?.split(',') ?? [],
    },
    host: c.HOST,
    port: c.PORT,
    dataDir: path.resolve(c.SCALEMART_DATA_DIR),
    databaseUrl: ownDatabase(c.DATABASE_URL),
    databasePerService: perService,
    dbPoolSize: c.DB_POOL_SIZE ?? defaultPoolSize(os.availableParallelism(), c.DB_SPINDLES),
    // A service whose modules keep nothing on shards (identity, say) opens none.
    shardUrls: perService && !KEYSPACES.some((k) => c.SCALEMART_MODULES?.includes(k)) ? [] : (c.SHARD_URLS?.split(',') ?? []).map(ownDatabase),
    replicaUrls: (c.DATABASE_REPLICA_URLS?.split(',') ?? []).map(ownDatabase),
    replicaMaxLagBytes: c.DB_REPLICA_MAX_LAG_BYTES,
    logLevel: c.LOG_LEVEL,
    jwtSecret: c.JWT_SECRET,
    jwtTtlSeconds: c.JWT_TTL_SECONDS,
    admin: c.ADMIN_EMAIL && c.ADMIN_PASSWORD ? { email: c.ADMIN_EMAIL.toLowerCase(), password: c.ADMIN_PASSWORD } : undefined,
    bodyLimitBytes: c.BODY_LIMIT_BYTES,
    rateLimit: { points: c.RATE_LIMIT_POINTS, windowSeconds: c.RATE_LIMIT_WINDOW_SECONDS, routes: c.RATE_LIMIT_ROUTES },
    trustedProxies: c.TRUSTED_PROXIES?.split(',') ?? [],
    cache: { mode: cacheMode, ttlSeconds: c.CACHE_TTL_SECONDS, l1MaxItems: c.CACHE_L1_MAX_ITEMS, redisUrl: c.REDIS_URL, l2TimeoutMs: c.CACHE_L2_TIMEOUT_MS },
    httpMaxAgeSeconds: c.HTTP_MAX_AGE_SECONDS,
    seedDemoProducts: c.SEED_DEMO_PRODUCTS,
    shutdownTimeoutMs: c.SHUTDOWN_TIMEOUT_MS,
    // Instant Ctrl-C for the one-process monolith; a fleet gives its balancers time to notice.
    shutdownDrainMs: c.SHUTDOWN_DRAIN_MS ?? (c.SCALEMART_STAGE === 'scaled' ? 2_000 : 0),
    storefrontPartDeadlineMs: c.STOREFRONT_PART_DEADLINE_MS,
    orders: { processing: c.ORDER_PROCESSING, stepAttempts: c.SAGA_STEP_ATTEMPTS, stepTimeoutMs: c.SAGA_STEP_TIMEOUT_MS },
    providers: { url: c.PROVIDERS_URL, timeoutMs: c.PROVIDER_TIMEOUT_MS },
    notifications: { emailUrl: c.EMAIL_URL, invoiceHoldMs: c.NOTIFICATIONS_INVOICE_HOLD_MS },
    events: {
      maxAttempts: c.EVENTS_MAX_ATTEMPTS,
      transport: eventsTransport,
      outbox: c.EVENTS_OUTBOX,
      nats: { url: c.NATS_URL, stream: c.EVENTS_STREAM, partitions: c.EVENTS_PARTITIONS, retentionHours: c.EVENTS_RETENTION_HOURS, dedupWindowSeconds: c.EVENTS_DEDUP_WINDOW_SECONDS, batch: c.EVENTS_BATCH, leaseMs: c.EVENTS_LEASE_MS },
    },
    sagaLeaseMs: c.SAGA_LEASE_MS,
  };
}
