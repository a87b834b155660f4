import type { ClosedLoopRequest } from '../drivers/closed-loop.ts';
import { productPath } from '../targets/scalemart.ts';
import { createRandom, createZipf } from '../workload/zipf.ts';
import { browseSequence, ZIPF_EXPONENT, type BrowseWorkload } from './cache-layers-workload.ts';

/**
 * The browse-and-order mix, in twentieths: the read side of BENCHMARKS.md's browse-heavy mix
 * (cache-layers' category 7, search 3, product 6, home 2: 18), one login and one order. The login
 * stands in for the mix's order history: the issue asks for logins, and a login is the identity
 * service's work (a password hash check) where history would be more of the orders service's.
 */
export const SERVICES_MIX = { reads: 18, login: 1, order: 1 } as const;

export interface Customer {
  email: string;
  password: string;
  token: string;
}

const ADDRESS = { name: 'Lab', line1: '1 Load Lane', city: 'Berlin', postalCode: '10115', country: 'DE' };
const JSON_HEADERS = { 'content-type': 'application/json' };

/** The product id of a `/api/v1/products/:id` path. */
const idOf = (path: string) => decodeURIComponent(path.slice(productPath('').length));

/**
 * A fresh request sequence per call, the same for a seed: the kind by the mix, then the read (as
 * cache-layers draws it), the customer in turn and the ordered product by Zipf(1.0) rank. Orders
 * carry an Idempotency-Key unique in the run (`run` prefix, a counter kept across sequences), so
 * no order is ever a replay of another.
 */
export function mixSequence(workload: BrowseWorkload, customers: readonly Customer[], seed: number, run: string): () => () => string | ClosedLoopRequest {
  if (customers.length === 0) throw new RangeError('services mix: no customers');
  const reads = browseSequence(workload, seed);
  const total = SERVICES_MIX.reads + SERVICES_MIX.login + SERVICES_MIX.order;
  let orders = 0;
  return () => {
    const read = reads();
    const random = createRandom(seed ^ 0x0bde5);
    const product = createZipf(workload.products.length, ZIPF_EXPONENT, random);
    let turn = 0;
    return () => {
      const slot = random() * total;
      if (slot < SERVICES_MIX.reads) return read();
      const customer = customers[turn++ % customers.length]!;
      if (slot < SERVICES_MIX.reads + SERVICES_MIX.login) {
        return { method: 'POST', path: '/api/v1/auth/login', headers: JSON_HEADERS, body: JSON.stringify({ email: customer.email, password: customer.password }) };
      }
      return {
        method: 'POST',
        path: '/api/v1/orders',
        headers: { ...JSON_HEADERS, authorization: `Bearer ${customer.token}`, 'idempotency-key': `lab-${run}-${orders++}` },
        body: JSON.stringify({ items: [{ productId: idOf(workload.products[product()]!), quantity: 1 }], shippingAddress: ADDRESS }),
      };
    };
  };
}

/** Signs up `count` customers through the front door; their tokens place the mix's orders. */
export async function signUpCustomers(origin: string, count: number, prefix: string): Promise<Customer[]> {
  const customers: Customer[] = [];
  for (let i = 0; i < count; i++) {
    const email = `${prefix}-${i}@example.com`;
    const password = 'lab-password-123';
    const response = await fetch(`${origin}/api/v1/auth/signup`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ email, password, name: `Lab ${i}`, country: 'DE' }) });
    const body = (await response.json()) as { token?: string };
    if (response.status !== 201 || !body.token) throw new Error(`services lab: signup at ${origin}: HTTP ${response.status} ${JSON.stringify(body)}`);
    customers.push({ email, password, token: body.token });
  }
  return customers;
}
