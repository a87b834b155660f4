import type { CatalogApi, ProductDetail } from '../../modules/catalog/contract.ts';
import type { StockStatus } from '../../modules/inventory/contract.ts';
import type { OrdersApi, OrderSummary } from '../../modules/orders/contract.ts';
import { aggregate } from '../../platform/gateway/aggregate.ts';

/** A product as the home page shows it: no description, with its stock badge. */
export interface ProductCard {
  id: string;
  sku: string;
  name: string;
  category: string;
  price: number;
  currency: string;
  stock: { status: StockStatus; available: number };
}

export interface PopularCard extends ProductCard {
  views: number;
}

/**
 * Where the home page's parts come from. In the monolith, in-process contract calls; in a gateway,
 * HTTP calls to the public routes that answer the same (`GET /products`, `/products/popular`,
 * `/orders`). Each receives a signal that aborts at the part's deadline.
 */
export interface StorefrontSources {
  featured(limit: number, signal: AbortSignal): Promise<ProductCard[]>;
  popular(limit: number, signal: AbortSignal): Promise<PopularCard[]>;
  recentOrders(customerId: string, limit: number, signal: AbortSignal): Promise<OrderSummary[]>;
}

export type StorefrontPart = 'featured' | 'popular' | 'orders';

export interface StorefrontHome {
  featured?: ProductCard[];
  popular?: PopularCard[];
  /** Only for a signed-in caller. */
  orders?: OrderSummary[];
  /** Parts that failed or missed their deadline, left out of this answer. */
  degraded: StorefrontPart[];
}

export interface StorefrontOptions {
  /** Each part's deadline in milliseconds (STOREFRONT_PART_DEADLINE_MS). */
  deadlineMs: number;
  /** Default 8. */
  featuredCount?: number;
  /** Default 8. */
  popularCount?: number;
  /** Default 5. */
  ordersCount?: number;
  onDegraded?(part: StorefrontPart, reason: 'failed' | 'late', error?: unknown): void;
}

export const card = ({ product, stock }: ProductDetail): ProductCard => ({
  id: product.id, sku: product.sku, name: product.name, category: product.category, price: product.price, currency: product.currency,
  stock: { status: stock.status, available: stock.available },
});

/**
 * The sources over the modules' contracts. Featured is a deterministic pick: the first products
 * of the catalog's default listing (its cached first page), the same for every caller.
 */
export function inProcessSources(catalog: CatalogApi, orders: OrdersApi): StorefrontSources {
  return {
    featured: async (limit) => (await catalog.listProducts({ limit })).items.map(card),
    popular: async (limit) => (await catalog.popularProducts(limit)).map((detail) => ({ ...card(detail), views: detail.views })),
    recentOrders: (customerId, limit) => orders.recentOrders(customerId, limit),
  };
}

/** The home page: every part at once, each under the deadline; a part that fails or is late is named in `degraded`. */
export function createStorefront(sources: StorefrontSources, options: StorefrontOptions) {
  const featuredCount = options.featuredCount ?? 8;
  const popularCount = options.popularCount ?? 8;
  const ordersCount = options.ordersCount ?? 5;
  return {
    /** The home page for `customerId`, or for anyone when null (then it is the same for every caller). */
    async home(customerId: string | null): Promise<StorefrontHome> {
      const shared = {
        featured: (signal: AbortSignal) => sources.featured(featuredCount, signal),
        popular: (signal: AbortSignal) => sources.popular(popularCount, signal),
      };
      const { data, degraded } = customerId === null
        ? await aggregate(shared, { deadlineMs: options.deadlineMs, onDegraded: options.onDegraded })
        : await aggregate({ ...shared, orders: (signal: AbortSignal) => sources.recentOrders(customerId, ordersCount, signal) }, { deadlineMs: options.deadlineMs, onDegraded: options.onDegraded });
      return { ...data, degraded };
    },
  };
}

export type Storefront = ReturnType<typeof createStorefront>;
