import { Type } from 'typebox';
import { PlatformErrors } from '../../../platform/errors/domain-error.ts';
import type { HttpApp } from '../../../platform/http/create-app.ts';
import { problemSchema } from '../../../platform/http/problem.ts';
import type { CatalogApi } from '../contract.ts';
import type { ViewCounter } from './view-counter.ts';

const Params = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' }) });

export function registerViewRoutes(app: HttpApp, catalog: CatalogApi, counter: ViewCounter): void {
  app.post('/api/v1/products/:id/views', {
    schema: {
      tags: ['catalog'],
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
      summary: 'Views counted so far (popularity)',
      params: Params,
      response: { 200: Type.Object({ productId: Type.String(), views: Type.Integer() }), 400: problemSchema },
    },
  }, async (request, reply) => {
    reply.header('Cache-Control', 'public, max-age=5');
    return { productId: request.params.id, views: await counter.views(request.params.id) };
  });
}
