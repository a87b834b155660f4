import { describe, expect, it } from 'vitest';
import { defaultPoolSize, loadConfig } from './config.ts';

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
  ])('stops on %j with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
    try {
      loadConfig(env);
    } catch (error) {
      expect((error as Error).message).not.toContain('\n');
    }
  });
});
