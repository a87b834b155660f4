import { Type } from 'typebox';
import { PlatformErrors } from '../../../platform/errors/domain-error.ts';
import { PUBLIC } from '../../../platform/http/authenticate.ts';
import type { HttpApp } from '../../../platform/http/create-app.ts';
import { problemSchema } from '../../../platform/http/problem.ts';
import { publicCacheControl } from '../../../platform/http/http-cache.ts';
import { Category, productBody, ProductSchema } from '../catalog.routes.ts';
import type { CatalogApi } from '../contract.ts';
import type { ViewCounter } from './view-counter.ts';

/** The ranking: the most viewed product ids with their counts (cached by the caller for a few seconds). */
export type Popular = (limit: number, category?: string) => Promise<{ productId: string; views: number }[]>;

const Params = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' }) });

export function registerViewRoutes(app: HttpApp, catalog: CatalogApi, counter: ViewCounter, popular: { maxAgeSeconds: number }): void {
  const popularCacheControl = publicCacheControl(popular.maxAgeSeconds);
  app.get('/api/v1/products/popular', {
    schema: {
      tags: ['catalog'],
      operationId: 'listPopularProducts',
      security: PUBLIC,
      summary: 'The most viewed products, most first (view counts are write-behind: a view shows within a few seconds)',
      querystring: Type.Object({
        category: Type.Optional(Category),
        limit: Type.Integer({ minimum: 1, maximum: 50, default: 10 }),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ items: Type.Array(Type.Object({ ...ProductSchema.properties, views: Type.Integer() })) }), 400: problemSchema },
    },
  }, async (request, reply) => {
    const ranked = await catalog.popularProducts(request.query.limit, request.query.category);
    reply.header('Cache-Control', popularCacheControl);
    return { items: ranked.map((detail) => ({ ...productBody(detail), views: detail.views })) };
  });

  app.post('/api/v1/products/:id/views', {
    schema: {
      tags: ['catalog'],
      operationId: 'recordProductView',
      security: PUBLIC,
      summary: 'Count a product view (write-behind: counted within moments; the same viewId counts once)',
      params: Params,
      body: Type.Object({ viewId: Type.String({ pattern: '^[A-Za-z0-9-]{8,64}$', description: 'client-generated, e.g. a UUID; makes retries safe' }) }, { additionalProperties: false }),
      response: { 202: Type.Object({ accepted: Type.Boolean() }), 400: problemSchema, 404: problemSchema },
    },
  }, async (request, reply) => {
    if (!(await catalog.getProduct(request.params.id))) throw PlatformErrors.notFound('product');
    await counter.record(request.params.id, request.body.viewId);
    return reply.code(202).send({ accepted: true });
  });

  app.get('/api/v1/products/:id/views', {
    schema: {
      tags: ['catalog'],
      operationId: 'getProductViews',
      security: PUBLIC,
      summary: 'Views counted so far (popularity)',
      params: Params,
      response: { 200: Type.Object({ productId: Type.String(), views: Type.Integer() }), 400: problemSchema },
    },
  }, async (request, reply) => {
    reply.header('Cache-Control', 'public, max-age=5');
    return { productId: request.params.id, views: await counter.views(request.params.id) };
  });
}
