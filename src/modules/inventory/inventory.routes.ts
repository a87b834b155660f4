import { Type } from 'typebox';
import type { HttpApp } from '../../platform/http/create-app.ts';
import { AUTHENTICATED, PUBLIC, requireRole } from '../../platform/http/authenticate.ts';
import { publicCacheControl, sendNotModifiedIfFresh } from '../../platform/http/http-cache.ts';
import { PlatformErrors } from '../../platform/errors/domain-error.ts';
import { problemSchema } from '../../platform/http/problem.ts';
import { stockStatus, type InventoryApi, type StockLevel } from './contract.ts';

export const SkuSchema = Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'Stock keeping unit' });

const StockSchema = Type.Object({
  sku: Type.String(),
  available: Type.Integer(),
  reserved: Type.Integer(),
  status: Type.Union([Type.Literal('in_stock'), Type.Literal('low_stock'), Type.Literal('out_of_stock')]),
  updatedAt: Type.String({ format: 'date-time' }),
});

const view = (level: StockLevel) => ({ ...level, status: stockStatus(level.available) });

export function registerInventoryRoutes(app: HttpApp, inventory: InventoryApi, options: { maxAgeSeconds: number }): void {
  app.get('/api/v1/inventory/:sku', {
    schema: {
      tags: ['inventory'],
      operationId: 'getStock',
      security: PUBLIC,
      summary: 'Stock level of a SKU',
      params: Type.Object({ sku: SkuSchema }),
      response: { 200: StockSchema, 400: problemSchema, 404: problemSchema },
    },
  }, async (request, reply) => {
    const level = await inventory.getStock(request.params.sku);
    if (!level) throw PlatformErrors.notFound('SKU');
    // Stock moves with every order, so shared caches hold it briefly.
    if (sendNotModifiedIfFresh(request, reply, `"s${level.version}"`, publicCacheControl(Math.min(options.maxAgeSeconds, 5)))) return reply;
    return view(level);
  });

  app.put('/api/v1/inventory/:sku', {
    preValidation: requireRole('admin'),
    schema: {
      tags: ['inventory'],
      operationId: 'setStock',
      summary: 'Set the available stock of a SKU (admin)',
      security: AUTHENTICATED,
      params: Type.Object({ sku: SkuSchema }),
      body: Type.Object({ available: Type.Integer({ minimum: 0, maximum: 10_000_000 }) }, { additionalProperties: false }),
      response: { 200: StockSchema, 400: problemSchema, 401: problemSchema, 403: problemSchema },
    },
  }, async (request) => view(await inventory.setStock(request.params.sku, request.body.available)));
}
