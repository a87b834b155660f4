import { createHash } from 'node:crypto';
import { Type } from 'typebox';
import type { HttpApp } from '../../platform/http/create-app.ts';
import { AUTHENTICATED } from '../../platform/http/authenticate.ts';
import { etagMatches, PRIVATE_NO_STORE, publicCacheControl, sendNotModifiedIfFresh } from '../../platform/http/http-cache.ts';
import { problemSchema } from '../../platform/http/problem.ts';
import type { Storefront, StorefrontHome } from './storefront.ts';

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

/** The home page's public answer is kept no longer than the popularity ranking it shows (10 s). */
export const STOREFRONT_MAX_AGE_SECONDS = 10;

/** The answer differs with the caller's credentials: caches keep the anonymous one apart. */
const VARY = 'Authorization, X-API-Key';

const homeEtag = (body: string) => `"h${createHash('sha1').update(body).digest('base64url')}"`;

/** The home page's HTTP answer, without a framework (a gateway writes it with node:http). */
export interface HomeAnswer {
  status: 200 | 304;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** The JSON body; none for a 304. */
  body: string | undefined;
}

/**
 * The same status, headers and body as the monolith's route below: a signed-in page is private,
 * a partial one is not stored, a whole anonymous one is public with a strong ETag, and 304 when
 * `ifNoneMatch` names it.
 */
export function homeAnswer(home: StorefrontHome, signedIn: boolean, ifNoneMatch: string | undefined, cacheControl: string): HomeAnswer {
  const body = JSON.stringify(home);
  if (signedIn) return { status: 200, headers: { vary: VARY, 'cache-control': PRIVATE_NO_STORE }, body };
  // A partial page is not kept anywhere: the next request may well get the whole.
  if (home.degraded.length > 0) return { status: 200, headers: { vary: VARY, 'cache-control': 'no-store' }, body };
  const etag = homeEtag(body);
  const headers = { vary: VARY, etag, 'cache-control': cacheControl };
  if (ifNoneMatch && etagMatches(ifNoneMatch, etag)) return { status: 304, headers, body: undefined };
  return { status: 200, headers, body };
}

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
    const etag = homeEtag(body);
    if (sendNotModifiedIfFresh(request, reply, etag, cacheControl)) return reply;
    return reply.type('application/json; charset=utf-8').send(body as never);
  });
}
