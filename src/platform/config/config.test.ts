import { describe, expect, it } from 'vitest';
import { bulkheadFor, defaultPoolSize, loadConfig } from './config.ts';

const SHARED_SECRET = 'a-jwt-secret-every-instance-shares';

describe('configuration', () => {
  it('has working defaults for the monolith stage', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ stage: 'monolith', port: 3000, databaseUrl: '', cache: { mode: 'l1' }, admin: undefined });
    expect(config.dbPoolSize).toBe(defaultPoolSize());
  });

  it('sizes pools by (cores × 2) + spindles unless told', () => {
    expect(defaultPoolSize(2, 1)).toBe(5);
    expect(defaultPoolSize(8, 0)).toBe(16);
    expect(loadConfig({ DB_POOL_SIZE: '7' }).dbPoolSize).toBe(7);
  });

  it.each([
    [{ PORT: 'eighty' }, /^PORT: /],
    [{ PORT: '70000' }, /^PORT: /],
    [{ SCALEMART_STAGE: 'galactic' }, /^SCALEMART_STAGE: /],
    [{ DATABASE_URL: 'mysql://x' }, /^DATABASE_URL: a postgres:\/\/ URL/],
    [{ JWT_SECRET: 'short' }, /^JWT_SECRET: .*32/],
    [{ RATE_LIMIT_ROUTES: '{"GET /x": -1}' }, /^RATE_LIMIT_ROUTES: /],
    [{ ADMIN_EMAIL: 'a@b.co' }, /^ADMIN_EMAIL\/ADMIN_PASSWORD: set both/],
    [{ CACHE_MODE: 'l1l2' }, /^REDIS_URL: required when CACHE_MODE=l1l2/],
    [{ CACHE_MODE: 'l1l2', REDIS_URL: 'http://x' }, /^REDIS_URL: a redis:\/\/ URL/],
    [{ SCALEMART_STAGE: 'scaled', REDIS_URL: 'redis://r' }, /^DATABASE_URL: the scaled stage needs PostgreSQL/],
    [{ SCALEMART_STAGE: 'scaled', DATABASE_URL: 'postgres://p/db' }, /^REDIS_URL: the scaled stage needs Redis/],
    [{ SCALEMART_STAGE: 'scaled', DATABASE_URL: 'postgres://p/db', REDIS_URL: 'redis://r' }, /^JWT_SECRET: the scaled stage needs one secret/],
    [{ INTERNAL_SECRET: 'short' }, /^INTERNAL_SECRET: .*32/],
    [{ DATABASE_REPLICA_URLS: 'postgres://r/db' }, /^DATABASE_REPLICA_URLS: needs DATABASE_URL/],
    [{ DATABASE_URL: 'postgres://p/db', DATABASE_REPLICA_URLS: 'postgres://a/db,,postgres://b/db' }, /^DATABASE_REPLICA_URLS: comma-separated/],
    [{ SHARD_URLS: 'postgres://s/db' }, /^SHARD_URLS: needs DATABASE_URL/],
    [{ EVENTS_TRANSPORT: 'kafka' }, /^EVENTS_TRANSPORT: /],
    [{ EVENTS_OUTBOX: 'kafka' }, /^EVENTS_OUTBOX: /],
    [{ EVENTS_OUTBOX: 'wal' }, /^EVENTS_OUTBOX: wal needs DATABASE_URL to be a PostgreSQL server with wal_level = logical/],
    [{ NATS_URL: 'http://n:4222' }, /^NATS_URL: comma-separated nats:\/\/ URLs/],
    [{ EVENTS_STREAM: 'a.b' }, /^EVENTS_STREAM: letters, digits/],
  ])('stops on %j with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
    try {
      loadConfig(env);
    } catch (error) {
      expect((error as Error).message).not.toContain('\n');
    }
  });

  it('runs the scaled stage on an L1 + Redis L2 cache unless told otherwise, and splits URL lists', () => {
    const scaled = loadConfig({
      SCALEMART_STAGE: 'scaled', DATABASE_URL: 'postgres://p/db', REDIS_URL: 'redis://r', JWT_SECRET: SHARED_SECRET,
      DATABASE_REPLICA_URLS: 'postgres://a/db,postgres://b/db', SHARD_URLS: 'postgres://s0/db,postgres://s1/db',
    });
    expect(scaled).toMatchObject({ stage: 'scaled', replicaUrls: ['postgres://a/db', 'postgres://b/db'], shardUrls: ['postgres://s0/db', 'postgres://s1/db'] });
    expect(scaled.cache.mode).toBe('l1l2');
    expect(loadConfig({}).cache.mode).toBe('l1');
  });

  it('carries events on JetStream in the scaled stage and on the table log in the monolith, unless told otherwise', () => {
    const scaled = { SCALEMART_STAGE: 'scaled', DATABASE_URL: 'postgres://p/db', REDIS_URL: 'redis://r', JWT_SECRET: SHARED_SECRET };
    expect(loadConfig(scaled).events).toMatchObject({ transport: 'jetstream', nats: { url: 'nats://127.0.0.1:4222', stream: 'SCALEMART_EVENTS', partitions: 16 } });
    expect(loadConfig({ ...scaled, EVENTS_TRANSPORT: 'table' }).events.transport).toBe('table');
    expect(loadConfig({}).events.transport).toBe('table');
    expect(loadConfig({ EVENTS_TRANSPORT: 'jetstream', NATS_URL: 'nats://a:1,nats://b:2' }).events.nats.url).toBe('nats://a:1,nats://b:2');
    // The outbox stays a table unless told: the WAL needs wal_level = logical, which Debian's servers lack.
    expect(loadConfig(scaled).events.outbox).toBe('table');
    expect(loadConfig({ ...scaled, EVENTS_OUTBOX: 'wal' }).events.outbox).toBe('wal');
  });

  describe('the gateway role', () => {
    const secrets = { JWT_SECRET: 'j'.repeat(32), INTERNAL_SECRET: 'i'.repeat(32) };
    it('needs both secrets and upstreams or a routes file', () => {
      expect(() => loadConfig({ SCALEMART_ROLE: 'gateway', INTERNAL_SECRET: 'i'.repeat(32), GATEWAY_UPSTREAMS: 'http://a:1' })).toThrow(/^JWT_SECRET: /);
      expect(() => loadConfig({ SCALEMART_ROLE: 'gateway', JWT_SECRET: 'j'.repeat(32), GATEWAY_UPSTREAMS: 'http://a:1' })).toThrow(/^INTERNAL_SECRET: /);
      expect(() => loadConfig({ SCALEMART_ROLE: 'gateway', ...secrets, INTERNAL_SECRET: 'short' })).toThrow(/^INTERNAL_SECRET: /);
      expect(() => loadConfig({ SCALEMART_ROLE: 'gateway', ...secrets })).toThrow(/^GATEWAY_UPSTREAMS: /);
      expect(() => loadConfig({ SCALEMART_ROLE: 'gateway', ...secrets, GATEWAY_UPSTREAMS: 'ftp://a' })).toThrow(/^GATEWAY_UPSTREAMS: /);
      expect(() => loadConfig({ SCALEMART_ROLE: 'gateway', ...secrets, GATEWAY_UPSTREAMS: 'http://a:1', GATEWAY_KEEPALIVE_MS: '72000' })).toThrow(/^GATEWAY_KEEPALIVE_MS: /);
    });

    it('has the documented defaults, and needs no database in the scaled stage', () => {
      const config = loadConfig({ SCALEMART_ROLE: 'gateway', SCALEMART_STAGE: 'scaled', REDIS_URL: 'redis://r:6379', ...secrets, GATEWAY_UPSTREAMS: 'http://a:1,http://b:2' });
      expect(config.role).toBe('gateway');
      expect(config.gateway).toMatchObject({
        upstreams: ['http://a:1', 'http://b:2'], balancer: 'least-request', hashKey: 'ip',
        health: { intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3 },
        outlier: { consecutiveFailures: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 50 },
        keepAliveMs: 60_000, retries: 2, retryBudget: { percent: 20, minPerSecond: 10 },
      });
      expect(loadConfig({}).role).toBe('all');
    });
  });

  describe('the service role', () => {
    const service = { SCALEMART_ROLE: 'service', DATABASE_URL: 'postgres://p/db', JWT_SECRET: SHARED_SECRET, INTERNAL_SECRET: 'i'.repeat(32) };
    it('needs its modules, PostgreSQL and both secrets, and refuses an unknown module', () => {
      expect(() => loadConfig({ ...service })).toThrow(/^SCALEMART_MODULES: the service role needs --modules/);
      expect(() => loadConfig({ ...service, SCALEMART_MODULES: 'catalog,carts' })).toThrow(/^SCALEMART_MODULES: unknown module carts; /);
      expect(() => loadConfig({ ...service, SCALEMART_MODULES: 'catalog', DATABASE_URL: '' })).toThrow(/^DATABASE_URL: /);
      expect(() => loadConfig({ ...service, SCALEMART_MODULES: 'catalog', INTERNAL_SECRET: undefined })).toThrow(/^INTERNAL_SECRET: /);
      expect(() => loadConfig({ ...service, SCALEMART_MODULES: 'catalog', JWT_SECRET: undefined })).toThrow(/^JWT_SECRET: /);
      expect(() => loadConfig({ SCALEMART_MODULES: 'catalog' })).toThrow(/^SCALEMART_MODULES: only the service role/);
    });
    it('lists its modules in build order and reads SERVICE_URLS per module', () => {
      const config = loadConfig({ ...service, SCALEMART_MODULES: 'orders, catalog', SERVICE_URLS: 'inventory=http://a:1,http://b:2; payments=http://c:3' });
      expect(config.service).toEqual({ modules: ['catalog', 'orders'], urls: { inventory: ['http://a:1', 'http://b:2'], payments: ['http://c:3'] }, calls: { maxConcurrent: { all: 64, modules: {} }, maxQueued: { all: 256, modules: {} } } });
      expect(() => loadConfig({ ...service, SCALEMART_MODULES: 'catalog', SERVICE_URLS: 'stock=http://a:1' })).toThrow(/^SERVICE_URLS: "stock=http:\/\/a:1" is not module=/);
      expect(() => loadConfig({ ...service, SCALEMART_MODULES: 'catalog', SERVICE_URLS: 'inventory=a:1' })).toThrow(/^SERVICE_URLS: /);
      expect(loadConfig({}).service.modules).toEqual(['identity', 'inventory', 'catalog', 'payments', 'shipping', 'notifications', 'orders']);
    });
    it('names a database of its own on every server under DATABASE_PER_SERVICE, and needs JetStream for it', () => {
      const own = {
        ...service, SCALEMART_MODULES: 'catalog,inventory', DATABASE_PER_SERVICE: 'true', EVENTS_TRANSPORT: 'jetstream',
        DATABASE_URL: 'postgres://u@p:5432/shop?sslmode=disable', DATABASE_REPLICA_URLS: 'postgres://u@r1/shop', SHARD_URLS: 'postgres://u@s1/shop,postgres://u@s2/shop',
      };
      const config = loadConfig(own);
      expect(config).toMatchObject({
        databasePerService: true,
        databaseUrl: 'postgres://u@p:5432/shop_inventory_catalog?sslmode=disable',
        replicaUrls: ['postgres://u@r1/shop_inventory_catalog'],
        shardUrls: ['postgres://u@s1/shop_inventory_catalog', 'postgres://u@s2/shop_inventory_catalog'],
      });
      // Identity keeps nothing on shards: its service opens none.
      expect(loadConfig({ ...own, SCALEMART_MODULES: 'identity' })).toMatchObject({ databaseUrl: 'postgres://u@p:5432/shop_identity?sslmode=disable', shardUrls: [] });
      expect(loadConfig({ ...own, DATABASE_PER_SERVICE: undefined })).toMatchObject({ databasePerService: false, databaseUrl: own.DATABASE_URL });
      expect(() => loadConfig({ ...own, EVENTS_TRANSPORT: 'table' })).toThrow(/^DATABASE_PER_SERVICE: .*JetStream/);
      expect(() => loadConfig({ DATABASE_PER_SERVICE: 'true' })).toThrow(/^DATABASE_PER_SERVICE: only service processes/);
      // The gateway has no database: the fleet's shared env may carry the setting.
      expect(loadConfig({ SCALEMART_ROLE: 'gateway', GATEWAY_UPSTREAMS: 'http://a:1', JWT_SECRET: SHARED_SECRET, INTERNAL_SECRET: 'i'.repeat(32), DATABASE_PER_SERVICE: 'true' }).databasePerService).toBe(false);
    });

    it('bounds the calls to each other service by SERVICE_CALL_CONCURRENCY and SERVICE_CALL_QUEUE, for all or per module', () => {
      const all = loadConfig({ ...service, SCALEMART_MODULES: 'orders', SERVICE_CALL_CONCURRENCY: '8', SERVICE_CALL_QUEUE: '0' }).service;
      expect(bulkheadFor(all, 'payments')).toEqual({ maxConcurrent: 8, maxQueued: 0 });
      const one = loadConfig({ ...service, SCALEMART_MODULES: 'orders', SERVICE_CALL_CONCURRENCY: 'payments=4', SERVICE_CALL_QUEUE: '100; payments = 2' }).service;
      expect(bulkheadFor(one, 'payments')).toEqual({ maxConcurrent: 4, maxQueued: 2 });
      expect(bulkheadFor(one, 'inventory')).toEqual({ maxConcurrent: 64, maxQueued: 100 });
      expect(() => loadConfig({ ...service, SCALEMART_MODULES: 'orders', SERVICE_CALL_CONCURRENCY: '0' })).toThrow(/^SERVICE_CALL_CONCURRENCY: "0" is not a number \(1 to 100000\)/);
      expect(() => loadConfig({ ...service, SCALEMART_MODULES: 'orders', SERVICE_CALL_QUEUE: 'stock=3' })).toThrow(/^SERVICE_CALL_QUEUE: "stock=3"/);
    });
  });

  it('drains 2 s on SIGTERM in the scaled stage and not at all in the monolith, unless told otherwise', () => {
    const scaled = { SCALEMART_STAGE: 'scaled', DATABASE_URL: 'postgres://p/db', REDIS_URL: 'redis://r', JWT_SECRET: SHARED_SECRET };
    expect(loadConfig(scaled).shutdownDrainMs).toBe(2_000);
    expect(loadConfig({ ...scaled, SHUTDOWN_DRAIN_MS: '500' }).shutdownDrainMs).toBe(500);
    expect(loadConfig({}).shutdownDrainMs).toBe(0);
    expect(loadConfig({}).storefrontPartDeadlineMs).toBe(300);
    expect(loadConfig({}).internalSecret).toBeUndefined();
  });
});
