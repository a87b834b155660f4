import DataLoader from 'dataloader';
import type { Cache } from '../../platform/cache/cache.ts';
import { sqlStateOf, SqlState, type Database, type Queryable } from '../../platform/db/database.ts';
import { DomainError } from '../../platform/errors/domain-error.ts';
import { appendToOutbox } from '../../platform/events/outbox.ts';
import { decodeCursor, encodeCursor } from '../../platform/http/cursor.ts';
import { uuid7 } from '../../platform/ids/uuid7.ts';
import { stockStatus, type InventoryApi, type StockLevel } from '../inventory/contract.ts';
import { CatalogErrorCodes, CatalogEvents, type CatalogApi, type CatalogEventCatalogue, type Product, type ProductChangedPayload, type ProductDetail, type ProductDetailPage, type ProductPage, type ProductQuery } from './contract.ts';
import { createCatalogRepository } from './catalog.repository.ts';

/**
 * Tags of cached list pages. A page entry holds only which products it shows, in order; the
 * products themselves (with stock) come from the product page entries, which every change already
 * refreshes. So a page goes stale only when its membership can change: a new product (its
 * category, the full list, search), a category move (both categories), a text change (search).
 * A price or stock change drops no list page at all.
 */
const ListTags = {
  all: 'catalog:list:all',
  category: (category: string) => `catalog:list:category:${category}`,
  search: 'catalog:list:search',
};

function scopeTag(query: ProductQuery): string {
  if (query.q !== undefined) return ListTags.search;
  return query.category === undefined ? ListTags.all : ListTags.category(query.category);
}

/** The list pages a change can make stale. */
function staleListTags(change: ProductChangedPayload, created: boolean): string[] {
  if (created) return [ListTags.all, ListTags.category(change.category), ListTags.search];
  const tags = change.previousCategory === undefined ? [] : [ListTags.category(change.category), ListTags.category(change.previousCategory)];
  if (change.textChanged) tags.push(ListTags.search);
  return tags;
}

const changedPayload = (product: Product, before?: Product): ProductChangedPayload => ({
  productId: product.id,
  sku: product.sku,
  version: product.version,
  category: product.category,
  ...(before && before.category !== product.category ? { previousCategory: before.category } : {}),
  textChanged: !before || before.name !== product.name || before.description !== product.description || before.category !== product.category,
});

/** What a list page entry keeps: the ids shown, in order. */
interface CachedPage {
  ids: string[];
  nextCursor: string | null;
}

function detailOf(product: Product, level: StockLevel | null | undefined): ProductDetail {
  const available = level?.available ?? 0;
  return { product, stock: { available, status: stockStatus(available), version: level?.version ?? 0 } };
}

/** A SKU whose stock changed, with its stock version after the change when the teller knows it. */
export interface StockChange {
  sku: string;
  version?: number;
}

export interface CatalogService extends CatalogApi {
  /** Drops what a catalog event makes stale, on every instance (the cache's bus carries it). Idempotent. */
  invalidate(type: string, change: ProductChangedPayload): Promise<void>;
  /**
   * Drops the product pages that show these SKUs' stock (lists are built from them). Given the
   * stock's version after the change, a page this instance holds at that version or later stays
   * (a late or repeated event). Idempotent.
   */
  stockChanged(changes: readonly StockChange[]): Promise<void>;
}

/**
 * The product page is one cache entry (product and stock summary together): each cache hit costs
 * about a microsecond of allocation-heavy work, and a second lookup per request cost a fifth of
 * hot-read throughput. The entry is dropped when the product changes or its SKU's stock moves.
 * Everything but the popularity ranking, which the module adds from its view counter.
 */
export function createCatalogService(db: Database, cache: Cache, inventory: InventoryApi, afterCommit: () => void): Omit<CatalogService, 'popularProducts'> {
  const repository = createCatalogRepository(db);
  const details = cache.namespace('catalog:v1:detail');
  const skuToId = cache.namespace('catalog:v1:sku');
  const pages = cache.namespace('catalog:v1:list');
  /** The page last assembled from an in-process page entry, and the product entries it was built from. */
  const assembled = new WeakMap<CachedPage, { from: (ProductDetail | null)[]; page: ProductDetailPage }>();

  const pageKey = (query: ProductQuery, afterId: string | undefined) => JSON.stringify([query.category ?? null, query.q ?? null, afterId ?? null, query.limit]);

  /** The page of these product entries; the same entries as last time give back the same page object, so callers can memoise on it. */
  function assemble(page: CachedPage, items: (ProductDetail | null)[]): ProductDetailPage {
    const previous = assembled.get(page);
    if (previous && previous.from.length === items.length && previous.from.every((item, i) => item === items[i])) return previous.page;
    const assembledPage = { items: items.filter((item): item is ProductDetail => item !== null), nextCursor: page.nextCursor };
    assembled.set(page, { from: items, page: assembledPage });
    return assembledPage;
  }

  async function invalidate(type: string, change: ProductChangedPayload): Promise<void> {
    await details.delete(change.productId);
    const tags = staleListTags(change, type === CatalogEvents.created);
    if (tags.length > 0) await cache.deleteByTags(tags);
  }

  async function loadPage(query: ProductQuery, afterId: string | undefined): Promise<ProductPage> {
    // One extra row tells whether another page exists without a count query.
    const rows = await repository.list({ category: query.category, q: query.q, afterId, limit: query.limit + 1 });
    const items = rows.slice(0, query.limit);
    return { items, nextCursor: rows.length > query.limit ? encodeCursor(items.at(-1)!.id) : null };
  }

  /**
   * Product rows missed in the same tick (a cached list page whose product entries were dropped)
   * are read in one query; their stock is batched the same way by the inventory module.
   */
  const products = new DataLoader<string, Product | null>(async (ids) => {
    const found = new Map((await repository.findByIds(ids)).map((product) => [product.id, product]));
    return ids.map((id) => found.get(id) ?? null);
  }, { cache: false });

  async function loadDetail(id: string): Promise<ProductDetail | null> {
    const product = await products.load(id);
    return product && detailOf(product, await inventory.getStock(product.sku));
  }

  async function stockChanged(changes: readonly StockChange[]): Promise<void> {
    for (const { sku, version } of changes) {
      const id = await skuToId.getOrSet(sku, () => repository.findIdBySku(sku));
      if (!id) continue;
      const held = version === undefined ? undefined : details.peek?.<ProductDetail | null>(id);
      if (held && version !== undefined && held.stock.version >= version) continue;
      await details.delete(id);
    }
  }
  // In this process, told at once; from inventory in another process, by its events (the module's consumer).
  inventory.onStockChanged((skus) => stockChanged(skus.map((sku) => ({ sku }))));

  // Cache-aside: a miss loads once however many requests wait for it (bentocache's stampede lock).
  const getProductDetail = (id: string) => details.getOrSet(id, () => loadDetail(id));

  /**
   * Commits a change with its event. The caches are updated before returning (read-your-writes for
   * the admin); the event repeats the invalidation for whatever that missed (a crash in between, a
   * cache that was unreachable), since the outbox delivers it whatever happens after the commit.
   */
  async function commitChange(type: keyof CatalogEventCatalogue, write: (tx: Queryable) => Promise<{ product: Product; before?: Product; initialStock?: number } | null>) {
    const result = await db.transaction(async (tx) => {
      const written = await write(tx);
      if (written) {
        const { product, before, initialStock } = written;
        await appendToOutbox<CatalogEventCatalogue>(tx, [{ type, key: product.id, payload: { ...changedPayload(product, before), ...(initialStock === undefined ? {} : { initialStock }) } }]);
      }
      return written;
    });
    if (result) afterCommit();
    return result;
  }

  return {
    getProductDetail,
    peekProductDetail: (id) => details.peek?.<ProductDetail | null>(id),
    getProduct: async (id) => (await getProductDetail(id))?.product ?? null,
    invalidate,
    stockChanged,

    // Category and search pages are cache-aside too: the ids of a page, tagged with its scope.
    async listProducts(query) {
      // A forged cursor is refused before it reaches the cache (and never becomes a key).
      const afterId = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      let loaded: ProductPage | undefined;
      const page = await pages.getOrSet<CachedPage>(pageKey(query, afterId), async () => {
        loaded = await loadPage(query, afterId);
        return { ids: loaded.items.map((product) => product.id), nextCursor: loaded.nextCursor };
      }, { tags: [scopeTag(query)] });
      if (loaded) {
        // This request read the rows itself: it needs only their stock, not a lookup per product.
        const { items } = loaded;
        const stock = await inventory.getStockMany(items.map((product) => product.sku));
        return { items: items.map((product) => detailOf(product, stock.get(product.sku))), nextCursor: loaded.nextCursor };
      }
      return assemble(page, await Promise.all(page.ids.map(getProductDetail)));
    },

    peekProducts(query) {
      if (query.cursor !== undefined || pages.peek === undefined || details.peek === undefined) return undefined;
      const page = pages.peek<CachedPage>(pageKey(query, undefined));
      if (page === undefined) return undefined;
      const items: (ProductDetail | null)[] = [];
      for (const id of page.ids) {
        const item = details.peek<ProductDetail | null>(id);
        // A product entry was dropped: listProducts reloads it (and counts the page's hit again).
        if (item === undefined) return undefined;
        items.push(item);
      }
      return assemble(page, items);
    },

    async createProduct(input, initialStock = 0) {
      const created = await commitChange(CatalogEvents.created, async (tx) => ({ product: await createCatalogRepository(tx).insert({ ...input, id: uuid7() }), initialStock }))
        .catch((error: unknown) => {
          if (sqlStateOf(error) === SqlState.uniqueViolation) {
            throw new DomainError('conflict', CatalogErrorCodes.skuTaken, `A product with SKU ${input.sku} exists.`);
          }
          throw error;
        });
      const product = created!.product;
      await skuToId.set(product.sku, product.id);
      await invalidate(CatalogEvents.created, changedPayload(product));
      return product;
    },

    async updateProduct(id, changes) {
      const updated = await commitChange(CatalogEvents.updated, async (tx) => {
        const txRepository = createCatalogRepository(tx);
        const before = await txRepository.findById(id, true);
        const product = before && (await txRepository.update(id, changes));
        return product ? { product, before: before! } : null;
      });
      if (!updated) return null;
      const stale = staleListTags(changedPayload(updated.product, updated.before), false);
      if (stale.length > 0) await cache.deleteByTags(stale);
      // Write-through: the new page is in the cache before the write returns.
      await details.set(id, await loadDetail(id));
      return updated.product;
    },

    async importProducts(batch) {
      await repository.insertMany(batch);
      // A bulk load (the seeder) publishes no events: it drops every list page it may have changed.
      await cache.deleteByTags([ListTags.all, ListTags.search, ...new Set(batch.map((p) => ListTags.category(p.category)))]);
    },
    countProducts: () => repository.count(),
  };
}
