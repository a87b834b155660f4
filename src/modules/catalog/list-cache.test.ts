import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, bearer, settleEvents, startTestMonolith, type TestMonolith } from '../../../test/support/monolith.ts';
import { appendToOutbox } from '../../platform/events/outbox.ts';
import { CatalogEvents, type CatalogEventCatalogue, type Product, type ProductChangedPayload } from './contract.ts';

interface Page {
  items: Product[];
  nextCursor: string | null;
}

/** List, category and search pages are cached and dropped by exactly the changes that alter them. */
describe('cached product lists', () => {
  let m: TestMonolith;
  let admin: Record<string, string>;
  const list = async (query: string) => (await m.app.inject({ url: `/api/v1/products?${query}` })).json<Page>();
  const names = async (query: string) => (await list(query)).items.map((p) => p.name);
  const patch = (id: string, payload: object) => m.app.inject({ method: 'PATCH', url: `/api/v1/products/${id}`, headers: admin, payload });
  /** Statements the database ran while `work` ran. */
  async function queriesDuring(work: () => Promise<unknown>): Promise<number> {
    const before = m.db.stats().queries;
    await work();
    return m.db.stats().queries - before;
  }

  let lamp: Product;
  let kettle: Product;
  beforeAll(async () => {
    m = await startTestMonolith();
    admin = bearer(await adminToken(m));
    const create = async (payload: object) => (await m.app.inject({ method: 'POST', url: '/api/v1/products', headers: admin, payload })).json<Product>();
    lamp = await create({ sku: 'LC-LAMP', name: 'Storm Lamp', description: 'Lights a tent', category: 'Lighting', price: 1500, stock: 5 });
    kettle = await create({ sku: 'LC-KETTLE', name: 'Camp Kettle', description: 'Boils water', category: 'Kitchen', price: 2500, stock: 5 });
  });
  afterAll(() => m.dispose());

  it('serves a repeated list, category or search page without touching the database', async () => {
    for (const query of ['limit=10', 'category=Lighting', 'q=kettle']) {
      // The page entry keeps ids; the first hit also fills the product entries it shows.
      await list(query);
      const first = await list(query);
      expect(first.items.length, query).toBeGreaterThan(0);
      let again: Page | undefined;
      expect(await queriesDuring(async () => (again = await list(query))), query).toBe(0);
      expect(again).toEqual(first);
    }
  });

  it('keeps a cached product page on a stock event it has already seen (its version or older), and drops it on a newer one', async () => {
    const page = () => m.app.inject({ url: `/api/v1/products/${kettle.id}` });
    await page();
    const stock = (await page()).json<{ stock: { available: number } }>().stock;
    expect(await queriesDuring(page)).toBe(0);
    const version = (await m.modules.inventory.api.getStock('LC-KETTLE'))!.version;
    // What another process's inventory publishes, handled by the module's consumer: late or repeated, then newer.
    const [, consumer] = m.modules.catalog.consumers;
    const told = (v: number) => consumer.handle({ id: `e-${v}`, type: 'inventory.stock.changed', key: 'LC-KETTLE', occurredAt: new Date().toISOString(), payload: { sku: 'LC-KETTLE', version: v } }, m.db);
    await told(version);
    await told(version - 1);
    expect(await queriesDuring(page)).toBe(0);
    await told(version + 1);
    expect(await queriesDuring(page)).toBeGreaterThan(0);
    expect((await page()).json<{ stock: { available: number } }>().stock).toEqual(stock);
  });

  it('shows a renamed product on every cached page that lists it, at once', async () => {
    expect(await names('category=Lighting')).toEqual(['Storm Lamp']);
    expect(await names('limit=10')).toContain('Storm Lamp');
    expect((await patch(lamp.id, { name: 'Hurricane Lamp' })).statusCode).toBe(200);
    expect(await names('category=Lighting')).toEqual(['Hurricane Lamp']);
    expect(await names('limit=10')).toContain('Hurricane Lamp');
    expect(await names('q=hurricane')).toEqual(['Hurricane Lamp']);
  });

  it('moves a product between cached category pages when its category changes', async () => {
    expect(await names('category=Outdoors')).toEqual([]);
    expect(await names('category=Kitchen')).toEqual(['Camp Kettle']);
    await patch(kettle.id, { category: 'Outdoors' });
    expect(await names('category=Outdoors')).toEqual(['Camp Kettle']);
    expect(await names('category=Kitchen')).toEqual([]);
  });

  it('adds a new product to the cached pages of its category and to search results', async () => {
    expect(await names('q=compass')).toEqual([]);
    const before = await names('category=Outdoors');
    await m.app.inject({ method: 'POST', url: '/api/v1/products', headers: admin, payload: { sku: 'LC-COMPASS', name: 'Compass', category: 'Outdoors', price: 900 } });
    expect(await names('category=Outdoors')).toEqual([...before, 'Compass']);
    expect(await names('q=compass')).toEqual(['Compass']);
  });

  it('answers a current list ETag with 304 from the cache, and a changed page with a new tag', async () => {
    const first = await m.app.inject({ url: '/api/v1/products?category=Lighting' });
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"l[\w-]+"$/);
    expect(first.headers['cache-control']).toMatch(/^public, max-age=\d+, stale-while-revalidate=\d+$/);
    let again: Awaited<ReturnType<typeof m.app.inject>> | undefined;
    expect(await queriesDuring(async () => (again = await m.app.inject({ url: '/api/v1/products?category=Lighting', headers: { 'if-none-match': etag } })))).toBe(0);
    expect(again!.statusCode).toBe(304);
    await m.app.inject({ method: 'PUT', url: `/api/v1/inventory/${lamp.sku}`, headers: admin, payload: { available: 1 } });
    const changed = await m.app.inject({ url: '/api/v1/products?category=Lighting', headers: { 'if-none-match': etag } });
    expect(changed.statusCode).toBe(200);
    expect(changed.headers.etag).not.toBe(etag);
  });

  it('keeps caching a page that a change elsewhere does not touch', async () => {
    await list('category=Lighting');
    await patch(kettle.id, { price: 2600 });
    // The change's events too have been handled (they drop the pages they touch) before the page is read again.
    await settleEvents([m]);
    expect(await queriesDuring(() => list('category=Lighting'))).toBe(0);
  });

  it('drops stale pages when only the event says what changed (a writer that crashed before invalidating)', async () => {
    expect(await names('category=Lighting')).toEqual(['Hurricane Lamp']);
    // Another process changed the row and committed its event, but never touched this cache.
    const version = await m.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ version: number }>("update catalog.products set name = 'Lantern', version = version + 1 where id = $1 returning version", [lamp.id]);
      const payload: ProductChangedPayload = { productId: lamp.id, sku: lamp.sku, version: rows[0]!.version, category: 'Lighting', textChanged: true };
      await appendToOutbox<CatalogEventCatalogue>(tx, [{ type: CatalogEvents.updated, key: lamp.id, payload }]);
      return rows[0]!.version;
    });
    m.relay.nudge();
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && (await names('category=Lighting'))[0] !== 'Lantern') await new Promise((r) => setTimeout(r, 20));
    expect(await names('category=Lighting')).toEqual(['Lantern']);
    const detail = (await m.app.inject({ url: `/api/v1/products/${lamp.id}` })).json<Product>();
    expect(detail).toMatchObject({ name: 'Lantern', version });
  });
});
