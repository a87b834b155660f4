import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { DomainError } from '../errors/domain-error.ts';
import { DependencyUnavailableError } from '../resilience/dependency-error.ts';
import { localClient } from './contract-table.ts';
import { RpcError } from './errors.ts';
import { controlOf, httpClient, type HttpClientOptions } from './http-client.ts';
import { createShelf, deadUrl, SECRET, serve, shelfContract, type Shelf, type ShelfApi } from './rpc-fixtures.ts';

const apps: FastifyInstance[] = [];
const clients: ShelfApi[] = [];
const gates: Array<() => void> = [];

afterEach(async () => {
  gates.splice(0).forEach((open) => open());
  await Promise.all(clients.splice(0).map((c) => controlOf(c).close()));
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function instance(name: string): Promise<{ shelf: Shelf; url: string }> {
  const shelf = createShelf(name);
  const { url, app } = await serve(shelfContract, shelf);
  apps.push(app);
  return { shelf, url };
}

/** Round-robin from the first URL, no health checks, short timeouts: each test sets what it checks. */
function client(urls: string[], options: Partial<HttpClientOptions> = {}): ShelfApi {
  const c = httpClient(shelfContract, { urls, secret: SECRET, caller: 'test', balancer: 'round-robin', health: false, ...options, policy: { timeoutMs: 1_000, initialDelayMs: 1, maxDelayMs: 5, ...options.policy } });
  clients.push(c);
  return c;
}

/** Makes `shelf` hang every call until the test ends. */
function hang(shelf: Shelf): void {
  shelf.behaviour.gate = new Promise((resolve) => gates.push(resolve));
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then((value) => expect.fail(`expected a rejection, got ${String(value)}`), (error: unknown) => error);
}

describe('a contract client over HTTP', () => {
  it('answers what the local client answers, a Map, bytes, null and void included', async () => {
    const { shelf, url } = await instance('a');
    const local = localClient(shelfContract, createShelf('a'));
    const remote = client([url]);
    expect(await remote.get('A-1')).toEqual(await local.get('A-1'));
    expect(await remote.get('nope')).toBeNull();
    const many = await remote.many(['A-1', 'B-2', 'nope']);
    expect(many).toBeInstanceOf(Map);
    expect(many).toEqual(await local.many(['A-1', 'B-2', 'nope']));
    const label = await remote.label('A-1');
    expect(label).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(label!).equals(Buffer.from((await local.label('A-1'))!))).toBe(true);
    expect(await remote.label('nope')).toBeNull();
    expect(await remote.add('C-3', 4)).toEqual({ sku: 'C-3', available: 4 });
    expect(await remote.touch()).toBeUndefined();
    await remote.touch('hello');
    expect(shelf.calls).toEqual(['get:A-1', 'get:nope', 'many:A-1,B-2,nope', 'label:A-1', 'label:nope', 'add:C-3', 'touch:undefined', 'touch:hello']);
  });

  it('raises the callee\'s domain error with its code and kind, as the local call does', async () => {
    const { url } = await instance('a');
    const remote = client([url]);
    const local = await rejection(createShelf('b').add('taken', 1));
    const error = await rejection(remote.add('taken', 1));
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ code: 'SKU_TAKEN', kind: 'conflict', message: (local as Error).message });
    // A business answer is not a failure of the dependency.
    expect(controlOf(remote).circuitState()).toBe('closed');
  });

  it('keeps local-only methods out: a callback throws RPC_LOCAL_ONLY, an optional peek is absent', async () => {
    const { url } = await instance('a');
    const remote = client([url]);
    expect(() => remote.watch(() => {})).toThrow(RpcError);
    expect(() => remote.watch(() => {})).toThrow(/shelf\.watch cannot be called across processes: takes a callback/);
    expect(remote.peek).toBeUndefined();
  });

  it('does not retry a non-idempotent write after a timeout, and retries a read on another instance', async () => {
    const a = await instance('a');
    const b = await instance('b');
    hang(a.shelf);
    const write = await rejection(client([a.url, b.url], { policy: { timeoutMs: 150 } }).add('C-3', 1));
    expect(write).toBeInstanceOf(DependencyUnavailableError);
    expect((write as Error).message).toMatch(/no answer within 150 ms/);
    expect(a.shelf.calls).toEqual(['add:C-3']);
    expect(b.shelf.calls).toEqual([]);

    expect(await client([a.url, b.url], { policy: { timeoutMs: 150 } }).get('A-1')).toEqual({ sku: 'A-1', available: 3 });
    expect(a.shelf.calls).toEqual(['add:C-3', 'get:A-1']);
    expect(b.shelf.calls).toEqual(['get:A-1']);
  });

  it('opens the circuit after its threshold, then fails in under 5 ms without calling', async () => {
    const { shelf, url } = await instance('a');
    shelf.behaviour.broken = true;
    const remote = client([url], { policy: { attempts: 1, breakAfter: 3 } });
    for (let i = 0; i < 3; i++) expect(await rejection(remote.get('A-1'))).toBeInstanceOf(DependencyUnavailableError);
    expect(controlOf(remote).circuitState()).toBe('open');
    const took: number[] = [];
    for (let i = 0; i < 9; i++) {
      const started = performance.now();
      const error = await rejection(remote.get('A-1'));
      took.push(performance.now() - started);
      expect(error).toBeInstanceOf(DependencyUnavailableError);
      expect((error as Error).message).toMatch(/circuit open/);
    }
    expect(took.sort((x, y) => x - y)[4]).toBeLessThan(5);
    expect(shelf.calls).toHaveLength(3);
  });

  it('refuses at once beyond its bulkhead (running + queued) while another dependency still answers', async () => {
    const slow = await instance('slow');
    const other = await instance('other');
    hang(slow.shelf);
    const slowClient = client([slow.url], { policy: { timeoutMs: 5_000, maxConcurrent: 2, maxQueued: 1 } });
    const otherClient = client([other.url], { policy: { maxConcurrent: 2, maxQueued: 1 } });
    const held = [slowClient.get('A-1'), slowClient.get('A-1'), slowClient.get('A-1')];
    for (const call of held) call.catch(() => {}); // awaited below; not unhandled if the test fails first
    await expect.poll(() => slow.shelf.calls.length).toBe(2);
    const started = performance.now();
    const refused = await rejection(slowClient.get('A-1'));
    expect(performance.now() - started).toBeLessThan(100);
    expect(refused).toBeInstanceOf(DependencyUnavailableError);
    expect((refused as Error).message).toMatch(/bulkhead full/);
    expect(await otherClient.get('A-1')).toEqual({ sku: 'A-1', available: 3 });
    // Still two running on the slow instance: the third waits in the queue, not sent.
    expect(slow.shelf.calls).toHaveLength(2);
    gates.splice(0).forEach((open) => open());
    expect(await Promise.all(held)).toEqual([{ sku: 'A-1', available: 3 }, { sku: 'A-1', available: 3 }, { sku: 'A-1', available: 3 }]);
    expect(slow.shelf.calls).toHaveLength(3);
  });

  it('skips a dead instance once its health check fails', async () => {
    const live = await instance('live');
    const remote = client([await deadUrl(), live.url], { health: { intervalMs: 50, timeoutMs: 200 } });
    await expect.poll(() => controlOf(remote).pool.healthy()).toBe(1);
    // Not idempotent, so never retried: each call must have gone straight to the live instance.
    for (let i = 0; i < 10; i++) await remote.add(`S-${i}`, 1);
    expect(live.shelf.calls).toHaveLength(10);
  });

  it('fails fast with DependencyUnavailableError when every instance is down', async () => {
    const remote = client([await deadUrl(), await deadUrl()]);
    const first = await rejection(remote.get('A-1'));
    expect(first).toBeInstanceOf(DependencyUnavailableError);
    expect((first as DependencyUnavailableError).dependency).toBe('shelf');
    const started = performance.now();
    const next = await rejection(remote.get('A-1'));
    expect(performance.now() - started).toBeLessThan(50);
    expect(next).toBeInstanceOf(DependencyUnavailableError);
    expect((next as Error).message).toMatch(/no healthy instance/);
  });

  it('reports a callee that refuses its signature as RPC_UNAUTHENTICATED', async () => {
    const { shelf, url } = await instance('a');
    const remote = httpClient(shelfContract, { urls: [url], secret: 'another-secret-that-is-long-enough-9876543210', caller: 'test', health: false });
    clients.push(remote);
    expect(await rejection(remote.get('A-1'))).toMatchObject({ name: 'RpcError', code: 'RPC_UNAUTHENTICATED' });
    expect(shelf.calls).toEqual([]);
  });
});
