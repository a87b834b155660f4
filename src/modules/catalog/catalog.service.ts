import { v7 as uuidv7 } from 'uuid';
import type { Cache } from '../../platform/cache/cache.ts';
import { sqlStateOf, SqlState, type Database } from '../../platform/db/database.ts';
import { DomainError, PlatformErrors } from '../../platform/errors/domain-error.ts';
import { CatalogErrorCodes, type CatalogApi } from './contract.ts';
import { createCatalogRepository } from './catalog.repository.ts';

export function encodeCursor(lastId: string): string {
  return Buffer.from(JSON.stringify({ after: lastId })).toString('base64url');
}

function decodeCursor(cursor: string): string {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof decoded === 'object' && decoded !== null && 'after' in decoded && typeof decoded.after === 'string') return decoded.after;
  } catch {
    // fall through to the validation error
  }
  throw PlatformErrors.validation([{ field: 'cursor', message: 'is not a cursor this API issued' }]);
}

export function createCatalogService(db: Database, cache: Cache): CatalogApi {
  const repository = createCatalogRepository(db);
  const products = cache.namespace('catalog:v1:product');

  return {
    // Cache-aside: a miss loads once however many requests wait for it (bentocache's stampede lock).
    getProduct: (id) => products.getOrSet(id, () => repository.findById(id)),

    async listProducts(query) {
      const afterId = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      // One extra row tells whether another page exists without a count query.
      const rows = await repository.list({ category: query.category, q: query.q, afterId, limit: query.limit + 1 });
      const items = rows.slice(0, query.limit);
      return { items, nextCursor: rows.length > query.limit ? encodeCursor(items.at(-1)!.id) : null };
    },

    async createProduct(input) {
      const product = await repository.insert({ ...input, id: uuidv7() }).catch((error: unknown) => {
        if (sqlStateOf(error) === SqlState.uniqueViolation) {
          throw new DomainError('conflict', CatalogErrorCodes.skuTaken, `A product with SKU ${input.sku} exists.`);
        }
        throw error;
      });
      await products.set(product.id, product);
      return product;
    },

    async updateProduct(id, changes) {
      const product = await repository.update(id, changes);
      // Write-through: the new value is in the cache before the write returns.
      if (product) await products.set(id, product);
      return product;
    },

    importProducts: (batch) => repository.insertMany(batch),
    countProducts: () => repository.count(),
  };
}
