import type { StockStatus } from '../inventory/contract.ts';

/** A product as the catalog owns it. Prices are integer minor units (cents). */
export interface Product {
  id: string;
  sku: string;
  name: string;
  description: string;
  category: string;
  price: number;
  /** ISO 4217. */
  currency: string;
  /** Rises on every change; feeds ETags and cache versions. */
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface NewProduct {
  sku: string;
  name: string;
  description?: string;
  category: string;
  price: number;
  currency?: string;
}

export type ProductChanges = Partial<Omit<NewProduct, 'sku'>>;

export interface ProductQuery {
  category?: string;
  /** Full-text search over name, description and category (web search syntax). */
  q?: string;
  /** Opaque cursor from a previous page. */
  cursor?: string;
  limit: number;
}

export interface ProductPage {
  items: Product[];
  nextCursor: string | null;
}

/** A page of products as the storefront shows them: each with its stock summary. */
export interface ProductDetailPage {
  items: ProductDetail[];
  nextCursor: string | null;
}

/** What a product page shows: the product and its stock summary, cached as one entry. */
export interface ProductDetail {
  product: Product;
  stock: { available: number; status: StockStatus; version: number };
}

/** A product in the popularity ranking: its page and the views counted so far. */
export interface PopularProduct extends ProductDetail {
  views: number;
}

export interface CatalogApi {
  getProduct(id: string): Promise<Product | null>;
  getProductDetail(id: string): Promise<ProductDetail | null>;
  /** What getProductDetail would answer at once from this process's cache, or undefined (then call it). */
  peekProductDetail?(id: string): ProductDetail | null | undefined;
  listProducts(query: ProductQuery): Promise<ProductDetailPage>;
  /** What listProducts would answer at once from this process's cache for a first page (no cursor), or undefined (then call it). */
  peekProducts?(query: ProductQuery): ProductDetailPage | undefined;
  /** The most viewed products, most first; the ranking is refreshed every few seconds, and a product removed since is left out. */
  popularProducts(limit: number, category?: string): Promise<PopularProduct[]>;
  /** Throws SKU_TAKEN when another product has the SKU. */
  /**
   * Creates a product. `initialStock` (default 0) travels with its `catalog.product.created` event,
   * from which the inventory gives the SKU that stock if it has none: the product and its first
   * stock commit together, wherever the inventory runs.
   */
  createProduct(input: NewProduct, initialStock?: number): Promise<Product>;
  /** Returns null when there is no such product. */
  updateProduct(id: string, changes: ProductChanges): Promise<Product | null>;
  /** Bulk load for seeding. */
  importProducts(products: readonly (NewProduct & { id: string })[]): Promise<void>;
  countProducts(): Promise<number>;
}

/** Events the catalog publishes through its outbox. */
export const CatalogEvents = {
  created: 'catalog.product.created',
  updated: 'catalog.product.updated',
} as const;

/** What a catalog event carries: which cached pages it makes stale. */
export interface ProductChangedPayload {
  productId: string;
  sku: string;
  version: number;
  category: string;
  /** Set when the product moved between categories. */
  previousCategory?: string;
  /** Name, description or category changed: search results may differ. */
  textChanged: boolean;
  /** A created product's first stock, for the inventory (`createProduct`). */
  initialStock?: number;
}

/** The catalog's event catalogue: what each event type carries. */
export type CatalogEventCatalogue = {
  [CatalogEvents.created]: ProductChangedPayload;
  [CatalogEvents.updated]: ProductChangedPayload;
};

export const CatalogErrorCodes = {
  skuTaken: 'SKU_TAKEN',
} as const;
