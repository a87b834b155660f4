import { createHash } from 'node:crypto';
import { Type } from 'typebox';
import type { HttpApp } from '../../platform/http/create-app.ts';
import { AUTHENTICATED } from '../../platform/http/authenticate.ts';
import { PRIVATE_NO_STORE, publicCacheControl, sendNotModifiedIfFresh } from '../../platform/http/http-cache.ts';
import { problemSchema } from '../../platform/http/problem.ts';
import type { Storefront } from './storefront.ts';

const Stock = Type.Object({
  status: Type.Union([Type.Literal('in_stock'), Type.Literal('low_stock'), Type.Literal('out_of_stock')], { description: 'the stock badge' }),
  available: Type.Integer(),
});
const Card = {
  id: Type.String(), sku: Type.String(), name: Type.String(), category: Type.String(),
  price: Type.Integer({ description: 'integer minor units (cents)' }), currency: Type.String(), stock: Stock,
};
const OrderSummary = Type.Object({
  id: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('confirmed'), Type.Literal('failed'), Type.Literal('cancelled')]),
  total: Type.Integer(), currency: Type.String(), itemCount: Type.Integer(), failureReason: Type.Optional(Type.String()),
  createdAt: Type.String(), updatedAt: Type.String(),
});
const Home = Type.Object({
  featured: Type.Optional(Type.Array(Type.Object(Card))),
  popular: Type.Optional(Type.Array(Type.Object({ ...Card, views: Type.Integer() }))),
  orders: Type.Optional(Type.Array(OrderSummary, { description: 'your latest orders; only when signed in' })),
  degraded: Type.Array(Type.Union([Type.Literal('featured'), Type.Literal('popular'), Type.Literal('orders')]), { description: 'parts that failed or missed their deadline, left out' }),
});

/** The answer differs with the caller's credentials: caches keep the anonymous one apart. */
const VARY = 'Authorization, X-API-Key';

export function registerStorefrontRoutes(app: HttpApp, storefront: Storefront, options: { maxAgeSeconds: number }): void {
  const cacheControl = publicCacheControl(options.maxAgeSeconds);
  app.get('/api/v1/storefront/home', {
    schema: {
      tags: ['storefront'],
      operationId: 'getStorefrontHome',
      summary: 'The home page in one call: featured and popular products with stock badges, and (signed in) your latest orders',
      description: 'Parts are fetched in parallel, each under a deadline; one that fails or is late is left out and named in `degraded`, still with a 200. '
        + 'The anonymous answer is public (ETag, Cache-Control); a signed-in one is private.',
      security: [{}, ...AUTHENTICATED],
      response: { 200: Home, 304: Type.Null(), 401: problemSchema },
    },
  }, async (request, reply) => {
    const principal = request.principal;
    const home = await storefront.home(principal?.subject ?? null);
    reply.header('Vary', VARY);
    if (principal) {
      reply.header('Cache-Control', PRIVATE_NO_STORE);
      return home;
    }
    // A partial page is not kept anywhere: the next request may well get the whole.
    if (home.degraded.length > 0) {
      reply.header('Cache-Control', 'no-store');
      return home;
    }
    const body = JSON.stringify(home);
    const etag = `"h${createHash('sha1').update(body).digest('base64url')}"`;
    if (sendNotModifiedIfFresh(request, reply, etag, cacheControl)) return reply;
    return reply.type('application/json; charset=utf-8').send(body as never);
  });
}
