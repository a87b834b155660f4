import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestMonolith, signup, type TestMonolith } from '../../../test/support/monolith.ts';
import { FORWARDED_PRINCIPAL_HEADER, signForwardedPrincipal } from '../auth/forwarded-principal.ts';
import type { Principal } from '../auth/principal.ts';

const SECRET = 'the-secret-gateways-and-upstreams-share';
const OTHER_SECRET = 'a-secret-a-client-made-up-for-itself!!';
const forwarded = (value: string) => ({ [FORWARDED_PRINCIPAL_HEADER]: value });

describe('a principal forwarded by the gateway', () => {
  let m: TestMonolith;
  let customer: Principal;

  beforeAll(async () => {
    m = await startTestMonolith({ INTERNAL_SECRET: SECRET, SEED_DEMO_PRODUCTS: '0' });
    const { user } = await signup(m, 'forwarded@scalemart.test');
    customer = { subject: user.id, role: 'customer', via: 'token' };
  });
  afterAll(() => m?.dispose());

  it('is trusted when it verifies with the shared secret, without a token', async () => {
    const orders = await m.app.inject({ url: '/api/v1/orders', headers: forwarded(signForwardedPrincipal(customer, SECRET)) });
    expect(orders.statusCode).toBe(200);
    const me = await m.app.inject({ url: '/api/v1/users/me', headers: forwarded(signForwardedPrincipal(customer, SECRET)) });
    expect(me.json()).toMatchObject({ id: customer.subject, email: 'forwarded@scalemart.test' });
    const admin = { subject: 'admin-from-the-gateway', role: 'admin', via: 'api-key' } as const;
    const deadLetters = await m.app.inject({ url: '/api/v1/admin/events/dead-letters', headers: forwarded(signForwardedPrincipal(admin, SECRET)) });
    expect(deadLetters.statusCode).toBe(200);
  });

  it('is ignored as if absent when signed with another secret', async () => {
    const orders = await m.app.inject({ url: '/api/v1/orders', headers: forwarded(signForwardedPrincipal(customer, OTHER_SECRET)) });
    expect(orders.statusCode).toBe(401);
    const admin = { subject: 'mallory', role: 'admin', via: 'token' } as const;
    const deadLetters = await m.app.inject({ url: '/api/v1/admin/events/dead-letters', headers: forwarded(signForwardedPrincipal(admin, OTHER_SECRET)) });
    expect(deadLetters.statusCode).toBe(401);
    // Public routes answer as for anyone: a bad value is not an error.
    expect((await m.app.inject({ url: '/api/v1/products', headers: forwarded('garbage') })).statusCode).toBe(200);
  });

  it('is ignored when a client edits a genuine value to become admin', async () => {
    const genuine = signForwardedPrincipal(customer, SECRET);
    const mac = genuine.split('.')[1]!;
    const payload = Buffer.from(JSON.stringify({ sub: customer.subject, role: 'admin', via: 'token', exp: Date.now() + 60_000 })).toString('base64url');
    const edited = await m.app.inject({ url: '/api/v1/admin/events/dead-letters', headers: forwarded(`${payload}.${mac}`) });
    expect(edited.statusCode).toBe(401);
  });

  it("is ignored when expired, and then the client's own token decides", async () => {
    const expired = signForwardedPrincipal(customer, SECRET, Date.now() - 60_000);
    expect((await m.app.inject({ url: '/api/v1/orders', headers: forwarded(expired) })).statusCode).toBe(401);
    const { token } = await signup(m, 'with-token@scalemart.test');
    const withToken = await m.app.inject({ url: '/api/v1/orders', headers: { ...forwarded(expired), authorization: `Bearer ${token}` } });
    expect(withToken.statusCode).toBe(200);
  });
});

describe('a process without INTERNAL_SECRET', () => {
  let m: TestMonolith;
  afterAll(() => m?.dispose());

  it('ignores the header, whatever it carries', async () => {
    m = await startTestMonolith({ SEED_DEMO_PRODUCTS: '0' });
    const { user } = await signup(m, 'no-secret@scalemart.test');
    // Even a value signed with what might be the fleet's secret means nothing here.
    const value = signForwardedPrincipal({ subject: user.id, role: 'admin', via: 'token' }, SECRET);
    expect((await m.app.inject({ url: '/api/v1/orders', headers: forwarded(value) })).statusCode).toBe(401);
    expect((await m.app.inject({ url: '/api/v1/admin/events/dead-letters', headers: forwarded(value) })).statusCode).toBe(401);
  });
});
