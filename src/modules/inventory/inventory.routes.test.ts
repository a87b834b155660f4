import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, bearer, signup, startTestMonolith, type TestMonolith } from '../../../test/support/monolith.ts';

describe('inventory over HTTP', () => {
  let m: TestMonolith;
  let admin: Record<string, string>;
  beforeAll(async () => {
    m = await startTestMonolith();
    admin = bearer(await adminToken(m));
  });
  afterAll(() => m.dispose());

  it('sets stock as an admin and shows it to anyone with an ETag', async () => {
    const put = await m.app.inject({ method: 'PUT', url: '/api/v1/inventory/BOOT-42', headers: admin, payload: { available: 4 } });
    expect(put.statusCode).toBe(200);
    const get = await m.app.inject({ method: 'GET', url: '/api/v1/inventory/BOOT-42' });
    expect(get.json()).toMatchObject({ sku: 'BOOT-42', available: 4, reserved: 0, status: 'low_stock' });
    expect(get.headers.etag).toBeDefined();
    expect((await m.app.inject({ method: 'GET', url: '/api/v1/inventory/BOOT-42', headers: { 'if-none-match': get.headers.etag as string } })).statusCode).toBe(304);
  });

  it('refuses negative or fractional stock, customers and unknown SKUs', async () => {
    for (const available of [-1, 1.5, '3']) {
      const bad = await m.app.inject({ method: 'PUT', url: '/api/v1/inventory/BOOT-42', headers: admin, payload: { available } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().errors[0].field).toBe('available');
    }
    const customer = bearer((await signup(m, 'c@example.com')).token);
    expect((await m.app.inject({ method: 'PUT', url: '/api/v1/inventory/BOOT-42', headers: customer, payload: { available: 1 } })).statusCode).toBe(403);
    expect((await m.app.inject({ method: 'GET', url: '/api/v1/inventory/NOPE' })).statusCode).toBe(404);
    expect((await m.app.inject({ method: 'GET', url: '/api/v1/inventory/BOOT-42' })).json().available).toBe(4);
  });
});
