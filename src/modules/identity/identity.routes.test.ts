import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { adminToken, bearer, signup, startTestMonolith, type TestMonolith } from '../../../test/support/monolith.ts';

describe('identity over HTTP', () => {
  let m: TestMonolith;
  beforeAll(async () => {
    m = await startTestMonolith({ JWT_TTL_SECONDS: '60' });
  });
  afterAll(() => m.dispose());

  it('signs up a customer and returns the user with a working token', async () => {
    const { user, token } = await signup(m, 'ada@example.com', 'analytical-engine');
    expect(user).toMatchObject({ email: 'ada@example.com', name: 'Test User', country: 'DE', role: 'customer' });
    expect(user).not.toHaveProperty('passwordHash');
    const me = await m.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(token) });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toEqual(user);
    expect(me.headers['cache-control']).toBe('private, no-store');
  });

  it('serves a repeated profile read from the cache and a changed profile at once', async () => {
    const { token } = await signup(m, 'cached@example.com');
    const me = () => m.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(token) });
    await me();
    // Background work (relay, consumers, saga polls) shares the database, so count only what reads users.
    const statements: string[] = [];
    const query = m.db.query.bind(m.db);
    m.db.query = (sql, params) => (statements.push(sql), query(sql, params));
    try {
      expect((await me()).statusCode).toBe(200);
    } finally {
      m.db.query = query;
    }
    expect(statements.filter((sql) => sql.includes('identity.'))).toEqual([]);
    await m.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: bearer(token), payload: { name: 'Renamed' } });
    expect((await me()).json().name).toBe('Renamed');
  });

  it('refuses a taken email, whatever its case, with 409 EMAIL_TAKEN', async () => {
    await signup(m, 'grace@example.com');
    const again = await m.app.inject({ method: 'POST', url: '/api/v1/auth/signup', payload: { email: 'GRACE@example.com', password: 'password-xyz', name: 'G', country: 'US' } });
    expect(again.statusCode).toBe(409);
    expect(again.headers['content-type']).toContain('application/problem+json');
    expect(again.json()).toMatchObject({ status: 409, code: 'EMAIL_TAKEN' });
  });

  it('logs in with the right password and refuses a wrong one or an unknown email alike', async () => {
    await signup(m, 'linus@example.com', 'penguins-rule');
    const ok = await m.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'linus@example.com', password: 'penguins-rule' } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ expiresIn: 60, token: expect.any(String) });
    for (const payload of [{ email: 'linus@example.com', password: 'wrong-password' }, { email: 'nobody@example.com', password: 'penguins-rule' }]) {
      const refused = await m.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload });
      expect(refused.statusCode).toBe(401);
      expect(refused.json().code).toBe('INVALID_CREDENTIALS');
    }
  });

  it('names the fields of a bad signup and creates nothing', async () => {
    const bad = await m.app.inject({
      method: 'POST', url: '/api/v1/auth/signup',
      payload: { email: 'not-an-email', password: 'short', name: '', country: 'Germany', admin: true },
    });
    expect(bad.statusCode).toBe(400);
    const problem = bad.json();
    expect(problem.code).toBe('VALIDATION_FAILED');
    expect(problem.errors.map((e: { field: string }) => e.field).sort()).toEqual(['admin', 'country', 'email', 'name', 'password']);
    const login = await m.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'not-an-email', password: 'short' } });
    expect(login.statusCode).toBe(400);
  });

  it('updates the profile and rejects unknown or empty changes', async () => {
    const { token } = await signup(m, 'barbara@example.com');
    const patched = await m.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: bearer(token), payload: { name: 'Barbara L.', country: 'us' } });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ name: 'Barbara L.', country: 'US' });
    const role = await m.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: bearer(token), payload: { role: 'admin' } });
    expect(role.statusCode).toBe(400);
    expect((await m.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(token) })).json().role).toBe('customer');
  });

  it('answers 401 without a token and with a forged one', async () => {
    expect((await m.app.inject({ method: 'GET', url: '/api/v1/users/me' })).json().code).toBe('UNAUTHENTICATED');
    const forged = await m.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4Iiwicm9sZSI6ImFkbWluIn0.c2lnbmF0dXJl') });
    expect(forged.statusCode).toBe(401);
    expect(forged.json().code).toBe('INVALID_TOKEN');
  });

  it('lets an admin create an API key that authenticates a machine client; customers get 403', async () => {
    const { token } = await signup(m, 'customer@example.com');
    const forbidden = await m.app.inject({ method: 'POST', url: '/api/v1/admin/api-keys', headers: bearer(token), payload: { name: 'x', role: 'admin' } });
    expect(forbidden.statusCode).toBe(403);
    const created = await m.app.inject({ method: 'POST', url: '/api/v1/admin/api-keys', headers: bearer(await adminToken(m)), payload: { name: 'warehouse', role: 'admin' } });
    expect(created.statusCode).toBe(201);
    const { key } = created.json<{ key: string }>();
    const put = await m.app.inject({ method: 'PUT', url: '/api/v1/inventory/SKU-KEY', headers: { 'x-api-key': key }, payload: { available: 3 } });
    expect(put.statusCode).toBe(200);
    const wrong = await m.app.inject({ method: 'PUT', url: '/api/v1/inventory/SKU-KEY', headers: { 'x-api-key': `${key}x` }, payload: { available: 3 } });
    expect(wrong.statusCode).toBe(401);
  });

  it('never writes passwords or tokens to the logs', async () => {
    const { token } = await signup(m, 'secretive@example.com', 'hunter2-hunter2');
    await m.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'secretive@example.com', password: 'hunter2-hunter2' } });
    await m.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(token) });
    const logs = m.logs();
    expect(logs).toContain('/api/v1/users/me');
    expect(logs).not.toContain('hunter2-hunter2');
    expect(logs).not.toContain(token);
  });
});

describe('token expiry', () => {
  it('refuses a token once its lifetime has passed', async () => {
    const m = await startTestMonolith({ JWT_TTL_SECONDS: '60' });
    try {
      const { token } = await signup(m, 'time@example.com');
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 61_000);
      try {
        const late = await m.app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(token) });
        expect(late.statusCode).toBe(401);
        expect(late.json().code).toBe('INVALID_TOKEN');
      } finally {
        vi.useRealTimers();
      }
    } finally {
      await m.dispose();
    }
  });
});
