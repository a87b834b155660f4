import { Type } from 'typebox';
import type { Database } from '../../platform/db/database.ts';
import { PlatformErrors } from '../../platform/errors/domain-error.ts';
import { AUTHENTICATED, principalOf, requireRole } from '../../platform/http/authenticate.ts';
import type { HttpApp } from '../../platform/http/create-app.ts';
import { PRIVATE_NO_STORE } from '../../platform/http/http-cache.ts';
import { problemSchema } from '../../platform/http/problem.ts';
import type { NotificationsApi } from '../notifications/contract.ts';
import type { OrdersService } from './orders.service.ts';
import { listHistory } from './order-history.query.ts';
import { decodeCursor, encodeCursor } from '../../platform/http/cursor.ts';
import { DependencyUnavailableError } from '../../platform/resilience/dependency-error.ts';

const Address = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100 }),
  line1: Type.String({ minLength: 1, maxLength: 200 }),
  line2: Type.Optional(Type.String({ maxLength: 200 })),
  city: Type.String({ minLength: 1, maxLength: 100 }),
  postalCode: Type.String({ minLength: 1, maxLength: 20 }),
  country: Type.String({ pattern: '^[A-Z]{2}$' }),
}, { additionalProperties: false });

const Line = Type.Object({ productId: Type.String(), sku: Type.String(), name: Type.String(), quantity: Type.Integer(), unitPrice: Type.Integer() });
const Status = Type.Union([Type.Literal('pending'), Type.Literal('confirmed'), Type.Literal('failed'), Type.Literal('cancelled')]);
const OrderView = Type.Object({
  id: Type.String(),
  status: Status,
  items: Type.Array(Line),
  total: Type.Integer(),
  currency: Type.String(),
  shippingAddress: Address,
  failureReason: Type.Optional(Type.String()),
  trackingNumber: Type.Optional(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  timeline: Type.Array(Type.Object({ at: Type.String({ format: 'date-time' }), step: Type.String(), phase: Type.String(), outcome: Type.String() })),
});
const errors = { 400: problemSchema, 401: problemSchema, 404: problemSchema, 409: problemSchema, 422: problemSchema };
const Id = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' }) });

export function registerOrderRoutes(app: HttpApp, deps: { db: Database; orders: OrdersService; notifications: NotificationsApi }): void {
  const { orders } = deps;
  const view = async (orderId: string, customerId: string) => {
    const order = await orders.get(customerId, orderId);
    if (!order) throw PlatformErrors.notFound('order');
    const { customerId: _owner, ...rest } = order;
    return { ...rest, timeline: await orders.timeline(order) };
  };

  app.post('/api/v1/orders', {
    preValidation: requireRole('customer'),
    schema: {
      tags: ['orders'],
      operationId: 'placeOrder',
      summary: 'Place an order; it is processed in the background (202)',
      security: AUTHENTICATED,
      headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 128 })) }),
      body: Type.Object({
        items: Type.Array(Type.Object({ productId: Type.String({ minLength: 1, maxLength: 64 }), quantity: Type.Integer({ minimum: 1, maximum: 1000 }) }, { additionalProperties: false }), { minItems: 1, maxItems: 50 }),
        shippingAddress: Address,
      }, { additionalProperties: false }),
      response: { 202: Type.Object({ id: Type.String(), status: Status }), ...errors },
    },
  }, async (request, reply) => {
    const { order } = await orders.place({
      customerId: principalOf(request).subject,
      items: request.body.items,
      shippingAddress: request.body.shippingAddress,
      idempotencyKey: request.headers['idempotency-key'],
    });
    reply.header('Location', `/api/v1/orders/${order.id}`).header('Cache-Control', PRIVATE_NO_STORE);
    return reply.code(202).send({ id: order.id, status: order.status });
  });

  app.get('/api/v1/orders/:id', {
    preValidation: requireRole('customer'),
    schema: { tags: ['orders'], operationId: 'getOrder', summary: 'An order with its status and timeline', security: AUTHENTICATED, params: Id, response: { 200: OrderView, ...errors } },
  }, async (request, reply) => {
    reply.header('Cache-Control', PRIVATE_NO_STORE);
    return view(request.params.id, principalOf(request).subject);
  });

  app.get('/api/v1/orders', {
    preValidation: requireRole('customer'),
    schema: {
      tags: ['orders'],
      operationId: 'listOrders',
      summary: 'Your order history, newest first (a read model, updated within moments of a change)',
      security: AUTHENTICATED,
      querystring: Type.Object({ cursor: Type.Optional(Type.String({ maxLength: 200 })), limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }) }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          items: Type.Array(Type.Object({ id: Type.String(), status: Status, total: Type.Integer(), currency: Type.String(), itemCount: Type.Integer(), failureReason: Type.Optional(Type.String()), createdAt: Type.String(), updatedAt: Type.String() })),
          nextCursor: Type.Union([Type.String(), Type.Null()]),
        }),
        ...errors,
      },
    },
  }, async (request, reply) => {
    reply.header('Cache-Control', PRIVATE_NO_STORE);
    const items = await listHistory(deps.db, principalOf(request).subject, request.query.cursor, request.query.limit + 1);
    const page = items.slice(0, request.query.limit);
    return { items: page, nextCursor: items.length > request.query.limit ? encodeCursor(page.at(-1)!.id) : null };
  });

  app.post('/api/v1/orders/:id/cancel', {
    preValidation: requireRole('customer'),
    schema: { tags: ['orders'], operationId: 'cancelOrder', summary: 'Cancel a pending or confirmed order; its compensations run', security: AUTHENTICATED, params: Id, response: { 202: Type.Object({ id: Type.String(), status: Status }), ...errors } },
  }, async (request, reply) => {
    const order = await orders.cancel(principalOf(request).subject, request.params.id);
    return reply.code(202).header('Cache-Control', PRIVATE_NO_STORE).send({ id: order.id, status: order.status });
  });

  app.get('/api/v1/admin/orders', {
    preValidation: requireRole('admin'),
    schema: {
      tags: ['orders'],
      operationId: 'listAllOrders',
      summary: 'Every customer\'s orders, newest first, merged from all shards (admin)',
      security: AUTHENTICATED,
      querystring: Type.Object({ status: Type.Optional(Status), cursor: Type.Optional(Type.String({ maxLength: 200 })), limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }) }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          items: Type.Array(Type.Object({ id: Type.String(), customerId: Type.String(), status: Status, total: Type.Integer(), currency: Type.String(), createdAt: Type.String() })),
          nextCursor: Type.Union([Type.String(), Type.Null()]),
          partial: Type.Array(Type.String(), { description: 'shards that did not answer in time; their orders are missing from this page' }),
        }),
        ...errors,
      },
    },
  }, async (request, reply) => {
    const { status, cursor, limit } = request.query;
    const { items, partial } = await orders.listAll({ status, beforeId: cursor === undefined ? undefined : decodeCursor(cursor), limit: limit + 1 });
    const page = items.slice(0, limit);
    reply.header('Cache-Control', PRIVATE_NO_STORE);
    return {
      items: page.map(({ id, customerId, status: orderStatus, total, currency, createdAt }) => ({ id, customerId, status: orderStatus, total, currency, createdAt })),
      nextCursor: items.length > limit ? encodeCursor(page.at(-1)!.id) : null,
      partial: [...partial],
    };
  });

  app.get('/api/v1/admin/sales', {
    preValidation: requireRole('admin'),
    schema: {
      tags: ['orders'],
      operationId: 'getSales',
      summary: 'Confirmed orders and revenue per currency, summed over all shards (admin)',
      security: AUTHENTICATED,
      response: { 200: Type.Object({ totals: Type.Array(Type.Object({ currency: Type.String(), orders: Type.Integer(), revenue: Type.Integer() })) }), 503: problemSchema, ...errors },
    },
  }, async (_request, reply) => {
    const { totals, partial } = await orders.salesTotals();
    // A total missing a shard's share is wrong, not partial: refuse it.
    if (partial.length > 0) throw new DependencyUnavailableError(`order shards ${partial.join(', ')}`, 'did not answer in time; totals would be short');
    reply.header('Cache-Control', PRIVATE_NO_STORE);
    return { totals };
  });

  app.get('/api/v1/orders/:id/invoice', {
    preValidation: requireRole('customer'),
    schema: {
      tags: ['orders'],
      operationId: 'getInvoice',
      summary: 'The invoice PDF of a confirmed order',
      security: AUTHENTICATED,
      params: Id,
      // Documents the PDF only: a Buffer is sent as it is, never through the response serialiser.
      response: { 200: { description: 'The invoice', content: { 'application/pdf': { schema: { type: 'string', format: 'binary' } } } }, ...errors },
    },
  }, async (request, reply) => {
    const order = await orders.get(principalOf(request).subject, request.params.id);
    if (!order) throw PlatformErrors.notFound('order');
    const pdf = order.status === 'confirmed' || order.status === 'cancelled' ? await deps.notifications.invoice(order.id) : null;
    if (!pdf) throw PlatformErrors.notFound('invoice (it is issued shortly after the order is confirmed)');
    return reply.type('application/pdf').header('Cache-Control', PRIVATE_NO_STORE).header('Content-Disposition', `inline; filename="invoice-${order.id}.pdf"`).send(Buffer.from(pdf) as never);
  });
}
