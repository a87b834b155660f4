import type { OrderSummary } from '../../modules/orders/contract.ts';
import type { PopularCard, ProductCard, StorefrontSources } from './storefront.ts';

/** GETs a public route's JSON (200 only; anything else throws), aborting with `signal`. */
export type JsonGet = (path: string, signal: AbortSignal) => Promise<unknown>;

interface ProductBody extends ProductCard {
  description?: string;
  views?: number;
}

const toCard = (p: ProductBody): ProductCard => ({
  id: p.id, sku: p.sku, name: p.name, category: p.category, price: p.price, currency: p.currency,
  stock: { status: p.stock.status, available: p.stock.available },
});

/** Only the summary's fields: the gateway writes the page with JSON.stringify, not the monolith's response schema. */
const toSummary = (o: OrderSummary): OrderSummary => ({
  id: o.id, status: o.status, total: o.total, currency: o.currency, itemCount: o.itemCount,
  ...(o.failureReason !== undefined ? { failureReason: o.failureReason } : {}), createdAt: o.createdAt, updatedAt: o.updatedAt,
});

/**
 * The home page's sources over the public routes that answer the same as the in-process calls
 * (`GET /api/v1/products`, `/api/v1/products/popular`, `/api/v1/orders`), for a gateway.
 * `catalog` and `orders` each reach the pool serving their routes; `orders` carries the caller's
 * identity (the signed principal), so `recentOrders` ignores the id it is given: the upstream
 * answers for whoever the header names, and nobody else.
 */
export function httpSources(get: { catalog: JsonGet; orders: JsonGet }): StorefrontSources {
  return {
    featured: async (limit, signal) => ((await get.catalog(`/api/v1/products?limit=${limit}`, signal)) as { items: ProductBody[] }).items.map(toCard),
    popular: async (limit, signal) =>
      ((await get.catalog(`/api/v1/products/popular?limit=${limit}`, signal)) as { items: ProductBody[] }).items.map((p): PopularCard => ({ ...toCard(p), views: p.views ?? 0 })),
    recentOrders: async (_customerId, limit, signal) => ((await get.orders(`/api/v1/orders?limit=${limit}`, signal)) as { items: OrderSummary[] }).items.map(toSummary),
  };
}
