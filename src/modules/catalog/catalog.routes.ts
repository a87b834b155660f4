import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { HttpApp } from '../../platform/http/create-app.ts';
import { AUTHENTICATED, PUBLIC, requireRole } from '../../platform/http/authenticate.ts';
import type { FastView } from '../../platform/http/fast-reads.ts';
import { publicCacheControl, sendNotModifiedIfFresh } from '../../platform/http/http-cache.ts';
import { PlatformErrors } from '../../platform/errors/domain-error.ts';
import { problemSchema } from '../../platform/http/problem.ts';
import { stockStatus, type InventoryApi, type StockLevel } from '../inventory/contract.ts';
import type { CatalogApi, Product, ProductDetail, ProductDetailPage, ProductQuery } from './contract.ts';
import { ProductWire } from './contract.rpc.ts';

export const ID_PATTERN = '^[A-Za-z0-9-]{1,64}$';
const Id = Type.String({ pattern: ID_PATTERN });
const Sku = Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' });
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Description = Type.String({ maxLength: 5000 });
export const Category = Type.String({ minLength: 1, maxLength: 100 });
const Price = Type.Integer({ minimum: 0, maximum: 100_000_000, description: 'integer minor units (cents)' });
const Currency = Type.String({ pattern: '^[A-Z]{3}$' });

const StockSummary = Type.Object({
  available: Type.Integer(),
  status: Type.Union([Type.Literal('in_stock'), Type.Literal('low_stock'), Type.Literal('out_of_stock')]),
});
/** The public product body: the contract's product, its timestamps documented as date-times, and its stock summary. */
export const ProductSchema = Type.Object({
  ...ProductWire.properties,
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  stock: StockSummary,
});
const adminErrors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema, 409: problemSchema };

/** A product page's public body: the product with its stock summary (the stock version stays internal). */
export const productBody = ({ product, stock }: ProductDetail) => ({ ...product, stock: { available: stock.available, status: stock.status } });

const withStock = (product: Product, level: Pick<StockLevel, 'available'> | null | undefined) => ({
  ...product,
  stock: { available: level?.available ?? 0, status: stockStatus(level?.available ?? 0) },
});

/** A category as a list query may carry it with nothing to decode: what Fastify would parse to the same string. */
const PLAIN_CATEGORY = /^[A-Za-z0-9._~-]{1,100}$/;
const PLAIN_LIMIT = /^(?:[1-9]\d?|100)$/;
const DEFAULT_LIMIT = 20;

/**
 * The list query of a fast read: none, or `category` and `limit` once each, as plain tokens; the
 * schema's default limit otherwise. Anything else (a search, a cursor, an encoded or repeated
 * value) is left to the route, whose parser and schema decide.
 */
function plainListQuery(raw: string): ProductQuery | undefined {
  const query: ProductQuery = { limit: DEFAULT_LIMIT };
  if (raw === '') return query;
  let limit: string | undefined;
  for (const pair of raw.split('&')) {
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (eq > 0 && name === 'category' && query.category === undefined && PLAIN_CATEGORY.test(value)) query.category = value;
    else if (eq > 0 && name === 'limit' && limit === undefined && PLAIN_LIMIT.test(value)) limit = value;
    else return undefined;
  }
  if (limit !== undefined) query.limit = Number(limit);
  return query;
}

export function registerCatalogRoutes(app: HttpApp, catalog: CatalogApi, inventory: InventoryApi, options: { maxAgeSeconds: number }): void {
  const cacheControl = publicCacheControl(options.maxAgeSeconds);
  /**
   * The JSON of a product page and its ETag, kept beside the cached entry it renders: an in-process cache hands
   * out the same (immutable) entry object until the product or its stock changes, so the body is
   * serialised once per change instead of once per request. Entries read back from Redis are new
   * objects and are serialised afresh; the WeakMap lets dropped entries go. Bodies stay strings:
   * Node writes a string body together with the headers in one write, and keeping them as bytes
   * (which saves encoding a ~7.5 kB page per request) measured no faster for pages and slower for
   * product pages (a second chunk to write).
   */
  const rendered = new WeakMap<ProductDetail, FastView>();
  /** The same for list pages: the catalog hands back the same page object while none of its entries changed. */
  const renderedPages = new WeakMap<ProductDetailPage, FastView>();

  function viewOf(detail: ProductDetail): FastView {
    let view = rendered.get(detail);
    if (view === undefined) {
      // Strong tag from both versions: a price change or a stock move both make it stale.
      const body = JSON.stringify(productBody(detail));
      view = { etag: `"p${detail.product.version}-s${detail.stock.version}"`, body, length: Buffer.byteLength(body) };
      rendered.set(detail, view);
    }
    return view;
  }

  function pageView(page: ProductDetailPage): FastView {
    let view = renderedPages.get(page);
    if (!view) {
      // Strong tag over what the page shows: which products, at which versions, with which stock versions.
      const shown = page.items.map(({ product, stock }) => `${product.id}:${product.version}:${stock.version}`).join(',');
      const body = JSON.stringify({ items: page.items.map(productBody), nextCursor: page.nextCursor });
      view = { etag: `"l${createHash('sha1').update(`${shown}|${page.nextCursor ?? ''}`).digest('base64url')}"`, body, length: Buffer.byteLength(body) };
      renderedPages.set(page, view);
    }
    return view;
  }

  /** A product page, or its 304; undefined once sent (a sync handler must not return the reply). */
  function sendDetail(request: FastifyRequest, reply: FastifyReply, detail: ProductDetail | null): undefined {
    if (!detail) throw PlatformErrors.notFound('product');
    const view = viewOf(detail);
    if (sendNotModifiedIfFresh(request, reply, view.etag, cacheControl)) return undefined;
    // A string payload skips the response serialiser; it is exactly what the schema would produce.
    reply.type('application/json; charset=utf-8').send(view.body);
    return undefined;
  }

  app.get('/api/v1/products', {
    schema: {
      tags: ['catalog'],
      operationId: 'listProducts',
      security: PUBLIC,
      summary: 'A page of products, filtered by category or searched by text',
      querystring: Type.Object({
        category: Type.Optional(Category),
        q: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
        cursor: Type.Optional(Type.String({ maxLength: 500 })),
        limit: Type.Integer({ minimum: 1, maximum: 100, default: DEFAULT_LIMIT }),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ items: Type.Array(ProductSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }), 304: Type.Null(), 400: problemSchema },
    },
  }, async (request, reply) => {
    const view = pageView(await catalog.listProducts(request.query));
    if (sendNotModifiedIfFresh(request, reply, view.etag, cacheControl)) return reply;
    return reply.type('application/json; charset=utf-8').send(view.body as never);
  });
  // A first page the in-process cache holds, asked for plainly, is answered before routing too.
  app.fastRead({
    url: '/api/v1/products',
    cacheControl,
    read(rawQuery) {
      const query = plainListQuery(rawQuery);
      const page = query && catalog.peekProducts?.(query);
      return page ? pageView(page) : undefined;
    },
  });

  // A product page the in-process cache holds is answered before routing (fast-reads.ts), the same way.
  // The static sibling /api/v1/products/popular matches the pattern but never names a cached
  // product (ids are UUIDs), so it always reaches its own route.
  const idPattern = new RegExp(ID_PATTERN);
  app.fastRead({
    url: '/api/v1/products/:id',
    param: idPattern,
    cacheControl,
    read(id) {
      const cached = catalog.peekProductDetail?.(id);
      return cached ? viewOf(cached) : undefined;
    },
  });
  app.get('/api/v1/products/:id', {
    schema: {
      tags: ['catalog'],
      operationId: 'getProduct',
      security: PUBLIC,
      summary: 'One product with its price and stock summary',
      params: Type.Object({ id: Id }),
      response: { 200: ProductSchema, 304: Type.Null(), 400: problemSchema, 404: problemSchema },
    },
  }, (request, reply) => {
    // A cached product is answered synchronously: no promise from the cache, the service or an
    // async handler (Fastify wraps a returned promise in a reaction of its own).
    const cached = catalog.peekProductDetail?.(request.params.id);
    if (cached !== undefined) return sendDetail(request, reply, cached);
    return catalog.getProductDetail(request.params.id).then((detail) => (sendDetail(request, reply, detail), reply as never));
  });

  app.post('/api/v1/products', {
    preValidation: requireRole('admin'),
    schema: {
      tags: ['catalog'],
      operationId: 'createProduct',
      summary: 'Create a product (admin); `stock` sets its initial stock',
      security: AUTHENTICATED,
      body: Type.Object({
        sku: Sku, name: Name, description: Type.Optional(Description), category: Category, price: Price,
        currency: Type.Optional(Currency), stock: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000 })),
      }, { additionalProperties: false }),
      response: { 201: ProductSchema, ...adminErrors },
    },
  }, async (request, reply) => {
    const { stock = 0, ...input } = request.body;
    // The product commits with its event, which carries the first stock to the inventory wherever
    // it runs; asking the inventory here too makes it visible at once. When that call fails, the
    // product stands and the event sets the stock shortly: answering an error would have the admin
    // retry into SKU_TAKEN.
    const product = await catalog.createProduct(input, stock);
    const level = await inventory.initStock(product.sku, stock).catch((error: unknown) => {
      request.log.warn({ err: error instanceof Error ? error.message : String(error), sku: product.sku }, 'catalog: the inventory did not take a new product\'s stock now; its event will');
      return { available: stock };
    });
    reply.header('Location', `/api/v1/products/${product.id}`);
    return reply.code(201).send(withStock(product, level));
  });

  app.patch('/api/v1/products/:id', {
    preValidation: requireRole('admin'),
    schema: {
      tags: ['catalog'],
      operationId: 'updateProduct',
      summary: 'Change a product (admin); caches drop the old value',
      security: AUTHENTICATED,
      params: Type.Object({ id: Id }),
      body: Type.Object({
        name: Type.Optional(Name), description: Type.Optional(Description), category: Type.Optional(Category),
        price: Type.Optional(Price), currency: Type.Optional(Currency),
      }, { additionalProperties: false, minProperties: 1 }),
      response: { 200: ProductSchema, ...adminErrors },
    },
  }, async (request) => {
    const product = await catalog.updateProduct(request.params.id, request.body);
    if (!product) throw PlatformErrors.notFound('product');
    return withStock(product, await inventory.getStock(product.sku));
  });
}
