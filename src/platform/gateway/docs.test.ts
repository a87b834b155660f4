import type { Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { createGatewayDocs, type DocumentSource } from './docs.ts';

const logger = { warn() {} } as unknown as Logger;
const document = (version: string) => ({
  openapi: '3.0.3',
  info: { title: 'Scalemart API', version },
  paths: { '/api/v1/products': { get: { operationId: 'listProducts', responses: { 200: { description: 'ok' } } } } },
});

/** A pool whose answers the test sets: a document, or an error. */
function pool(name: string) {
  let next: () => unknown = () => document('1');
  const source: DocumentSource & { calls: number; answer(f: () => unknown): void } = {
    pool: name,
    calls: 0,
    answer: (f) => (next = f),
    async fetch() {
      source.calls++;
      await Promise.resolve();
      return next();
    },
  };
  return source;
}

function setup(sources: DocumentSource[]) {
  let t = 0;
  const docs = createGatewayDocs({ sources, owner: () => 'catalog', timeoutMs: 1_000, logger, ttlMs: 30_000, now: () => t });
  const version = async () => {
    const text = await docs.document();
    return text === undefined ? undefined : (JSON.parse(text) as { info: { version: string } }).info.version;
  };
  return { docs, version, advance: (ms: number) => (t += ms) };
}

describe('the gateway\'s document cache', () => {
  it('keeps a document for the TTL, then rebuilds it on the next request', async () => {
    const catalog = pool('catalog');
    const { version, advance } = setup([catalog]);
    expect(await version()).toBe('1');
    catalog.answer(() => document('2'));
    advance(29_999);
    expect(await version()).toBe('1');
    expect(catalog.calls).toBe(1);
    advance(1);
    expect(await version()).toBe('2');
    expect(catalog.calls).toBe(2);
  });

  it('builds once for requests that arrive together', async () => {
    const catalog = pool('catalog');
    const { version } = setup([catalog]);
    expect(await Promise.all([version(), version(), version()])).toEqual(['1', '1', '1']);
    expect(catalog.calls).toBe(1);
  });

  it('serves the last good document when a pool cannot answer, and asks again only after the TTL', async () => {
    const catalog = pool('catalog');
    const rest = pool('rest');
    const { version, advance } = setup([catalog, rest]);
    expect(await version()).toBe('1');
    rest.answer(() => {
      throw new Error('NO_HEALTHY_UPSTREAM');
    });
    advance(30_000);
    expect(await version()).toBe('1');
    expect(rest.calls).toBe(2);
    advance(10_000);
    expect(await version()).toBe('1');
    expect(rest.calls).toBe(2);
    rest.answer(() => document('2'));
    catalog.answer(() => document('2'));
    advance(20_000);
    expect(await version()).toBe('2');
  });

  it('has no document while none could ever be built, and tries again on each request', async () => {
    const catalog = pool('catalog');
    catalog.answer(() => ({ not: 'openapi' }));
    const { version } = setup([catalog]);
    expect(await version()).toBeUndefined();
    expect(await version()).toBeUndefined();
    expect(catalog.calls).toBe(2);
    catalog.answer(() => document('3'));
    expect(await version()).toBe('3');
  });
});
