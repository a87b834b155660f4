import { describe, expect, it } from 'vitest';
import type { ClosedLoopRequest } from '../drivers/closed-loop.ts';
import type { BrowseWorkload } from './cache-layers-workload.ts';
import { mixSequence } from './services-workload.ts';

const workload: BrowseWorkload = {
  products: Array.from({ length: 100 }, (_, i) => `/api/v1/products/p-${i}`),
  categoryPages: [['/api/v1/products?category=a&limit=20']],
  searches: ['/api/v1/products?q=lamp&limit=20'],
  home: '/api/v1/products?limit=20',
};
const customers = [{ email: 'a@example.com', password: 'pw-123456789', token: 'tok-a' }, { email: 'b@example.com', password: 'pw-123456789', token: 'tok-b' }];
const draw = (next: () => string | ClosedLoopRequest, n: number) => Array.from({ length: n }, () => next());

describe('the browse-and-order mix', () => {
  it('sends 18 reads, 1 login and 1 order in 20, orders of real products by a signed-in customer', () => {
    const requests = draw(mixSequence(workload, customers, 42, 'run')(), 20_000);
    const logins = requests.filter((r) => typeof r !== 'string' && r.path === '/api/v1/auth/login');
    const orders = requests.filter((r): r is ClosedLoopRequest => typeof r !== 'string' && r.path === '/api/v1/orders');
    expect(logins.length / 20_000).toBeCloseTo(0.05, 2);
    expect(orders.length / 20_000).toBeCloseTo(0.05, 2);
    const body = JSON.parse(orders[0]!.body!) as { items: { productId: string }[] };
    expect(body.items[0]!.productId).toMatch(/^p-\d+$/);
    expect(orders[0]!.headers!.authorization).toMatch(/^Bearer tok-[ab]$/);
  });

  it('repeats its sequence on every call, but never an Idempotency-Key, across calls too', () => {
    const make = mixSequence(workload, customers, 42, 'run');
    const [first, second] = [draw(make(), 2_000), draw(make(), 2_000)];
    const paths = (rs: (string | ClosedLoopRequest)[]) => rs.map((r) => (typeof r === 'string' ? r : r.path));
    expect(paths(second)).toEqual(paths(first));
    const keys = [...first, ...second].flatMap((r) => (typeof r !== 'string' && r.headers?.['idempotency-key'] ? [r.headers['idempotency-key']] : []));
    expect(keys.length).toBeGreaterThan(100);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
