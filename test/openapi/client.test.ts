import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, startTestMonolith, type TestMonolith } from '../support/monolith.ts';

/**
 * The monolith's OpenAPI document is good enough for a client generator: Redocly's recommended
 * rules pass without a finding, openapi-typescript turns it into types that a typed client
 * compiles against (tsc, strict), and that client runs signup → order → invoice over real HTTP.
 */

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const REDOCLY = path.join(ROOT, 'node_modules/@redocly/cli/bin/cli.js');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');

interface Operation { operationId?: string }
interface Document { paths: Record<string, Record<string, Operation>> }
/** What the test needs of client.ts once compiled (tsc checked the real types against the document). */
interface GeneratedClient {
  signupOrderInvoice(baseUrl: string, admin: { email: string; password: string }, customer: { email: string; password: string }): Promise<{
    placed: { id: string; status: string };
    location: string | null;
    order: { id: string; status: string };
    invoice: Uint8Array;
    history: string[];
  }>;
}
interface LintReport { totals: { errors: number; warnings: number }; problems: { ruleId: string; message: string; location: { pointer: string }[] }[] }

/**
 * The typed client, written only against the generated `paths`. It is compiled by tsc and then
 * run: a document a generator misreads fails the compile, one that lies about the API fails the run.
 */
const CLIENT = `
import createClient, { type Client } from 'openapi-fetch';
import type { paths } from './api.ts';

export interface Account { email: string; password: string }

/** Reads until there is a value and it is ok (\`data\` is undefined while the server answers an error). */
async function until<T>(read: () => Promise<T | undefined>, ok: (value: T) => boolean = () => true, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (value !== undefined && ok(value)) return value;
    if (Date.now() > deadline) throw new Error('condition not met: ' + JSON.stringify(value));
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const address = { name: 'Ada Lovelace', line1: '12 Engine Street', city: 'London', postalCode: 'N1 9GU', country: 'GB' };

export async function signupOrderInvoice(baseUrl: string, admin: Account, customer: Account) {
  const api = createClient<paths>({ baseUrl });
  const bearer = (token: string) => ({ authorization: 'Bearer ' + token });

  const adminLogin = await api.POST('/api/v1/auth/login', { body: admin });
  if (!adminLogin.data) throw new Error('admin login: ' + JSON.stringify(adminLogin.error));
  const product = await api.POST('/api/v1/products', {
    headers: bearer(adminLogin.data.token),
    body: { sku: 'TYPED-CLIENT-1', name: 'Typed client widget', category: 'Test', price: 1250, stock: 5 },
  });
  if (!product.data) throw new Error('create product: ' + JSON.stringify(product.error));

  const signedUp = await api.POST('/api/v1/auth/signup', { body: { ...customer, name: 'Typed Client', country: 'GB' } });
  if (!signedUp.data) throw new Error('signup: ' + JSON.stringify(signedUp.error));
  const token: string = signedUp.data.token;

  const placed = await api.POST('/api/v1/orders', {
    headers: bearer(token),
    params: { header: { 'idempotency-key': 'typed-client-order-1' } },
    body: { items: [{ productId: product.data.id, quantity: 2 }], shippingAddress: address },
  });
  if (!placed.data) throw new Error('place order: ' + JSON.stringify(placed.error));
  const id = placed.data.id;
  const location = placed.response.headers.get('location');

  // Processed in the background: follow the order until it leaves pending.
  const order = await until(
    async () => (await api.GET('/api/v1/orders/{id}', { headers: bearer(token), params: { path: { id } } })).data,
    (o) => o.status !== 'pending',
  );
  // The invoice is issued shortly after the confirmation.
  const invoice = await until(
    async () => (await api.GET('/api/v1/orders/{id}/invoice', { headers: bearer(token), params: { path: { id } }, parseAs: 'arrayBuffer' })).data,
  );
  // No query: \`limit\` has a default, so the document does not make the client send it.
  const history = await until(
    async () => (await api.GET('/api/v1/orders', { headers: bearer(token) })).data,
    (page) => page.items.some((o) => o.id === id),
  );
  return { placed: placed.data, location, order, invoice: new Uint8Array(invoice), history: history.items.map((o) => o.id) };
}

// Never called. tsc fails on an unused @ts-expect-error, so these prove the types constrain calls.
export function misuse(api: Client<paths>): void {
  // @ts-expect-error quantity is an integer
  void api.POST('/api/v1/orders', { body: { items: [{ productId: 'p', quantity: 'two' }], shippingAddress: address } });
  // @ts-expect-error no such path
  void api.GET('/api/v1/nowhere');
  // @ts-expect-error an order's id is a path parameter that must be given
  void api.GET('/api/v1/orders/{id}', {});
}
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'es2024', lib: ['es2024', 'dom'], module: 'nodenext', moduleResolution: 'nodenext', types: ['node'],
    strict: true, noEmit: true, allowImportingTsExtensions: true, verbatimModuleSyntax: true, noUncheckedIndexedAccess: true,
  },
  files: ['client.ts'],
};

describe('the OpenAPI document, through a generated client', () => {
  let m: TestMonolith;
  let baseUrl: string;
  let dir: string;
  let document: Document;

  beforeAll(async () => {
    m = await startTestMonolith({ LOG_LEVEL: 'warn' });
    await m.app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = `http://127.0.0.1:${(m.app.server.address() as AddressInfo).port}`;
    dir = await mkdtemp(path.join(os.tmpdir(), 'scalemart-openapi-'));
    // The generated client lives outside the repository but resolves its packages from it.
    await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    await writeFile(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    const response = await fetch(`${baseUrl}/docs/json`);
    expect(response.status).toBe(200);
    document = await response.json() as Document;
    await writeFile(path.join(dir, 'openapi.json'), JSON.stringify(document, null, 2));
  });
  afterAll(async () => {
    await m?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('names every operation with a unique operationId', () => {
    const operations = Object.entries(document.paths).flatMap(([route, item]) => Object.entries(item).map(([method, operation]) => ({ at: `${method.toUpperCase()} ${route}`, id: operation.operationId })));
    expect(operations.length).toBeGreaterThan(20);
    expect(operations.filter((o) => !o.id).map((o) => o.at)).toEqual([]);
    const ids = operations.map((o) => o.id);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    for (const id of ids) expect(id).toMatch(/^[a-z][A-Za-z]+$/);
  });

  it('passes Redocly\'s recommended rules with no error and no warning', async () => {
    // `lint` exits 1 on errors; its JSON report is on stdout either way.
    const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };
    const { stdout } = await run(process.execPath, [REDOCLY, 'lint', '--format=json', path.join(dir, 'openapi.json')], { cwd: ROOT, env })
      .catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
    const report = JSON.parse(stdout) as LintReport;
    expect(report.problems.map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`)).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });

  it('generates types that a typed client compiles against, and that client runs signup → order → invoice', async () => {
    const types = astToString(await openapiTS(document as never));
    await writeFile(path.join(dir, 'api.ts'), types);
    await writeFile(path.join(dir, 'client.ts'), CLIENT);
    await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    const compiled = await run(process.execPath, [TSC, '-p', path.join(dir, 'tsconfig.json')], { cwd: dir })
      .then(() => '', (error: { stdout?: string }) => error.stdout || String(error));
    expect(compiled).toBe('');

    const client = await import(path.join(dir, 'client.ts')) as GeneratedClient;
    const result = await client.signupOrderInvoice(baseUrl, ADMIN, { email: 'typed-client@example.com', password: 'password-123' });
    expect(result.placed).toMatchObject({ status: 'pending' });
    expect(result.location).toBe(`/api/v1/orders/${result.placed.id}`);
    expect(result.order).toMatchObject({ id: result.placed.id, status: 'confirmed', total: 2500, items: [{ sku: 'TYPED-CLIENT-1', quantity: 2 }] });
    expect(Buffer.from(result.invoice.subarray(0, 5)).toString()).toBe('%PDF-');
    expect(result.history).toEqual([result.placed.id]);
  }, 60_000);
});
