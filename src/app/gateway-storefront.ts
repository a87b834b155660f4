import type { Logger } from 'pino';
import { FORWARDED_PRINCIPAL_HEADER } from '../platform/auth/forwarded-principal.ts';
import { getThroughPool, type Exchange, type ForwardTarget, type OwnRoute, type OwnRouteContext } from '../platform/gateway/index.ts';
import { PlatformErrors } from '../platform/errors/domain-error.ts';
import { publicCacheControl } from '../platform/http/http-cache.ts';
import { problem } from '../platform/http/problem.ts';
import { createAggregateMetrics } from '../platform/observability/aggregate-metrics.ts';
import { httpSources, type JsonGet } from './storefront/http-sources.ts';
import { createStorefront } from './storefront/storefront.ts';
import { homeAnswer } from './storefront/storefront.routes.ts';

export const STOREFRONT_HOME = '/api/v1/storefront/home';

/**
 * The sources ignore the customer id (the orders upstream answers for whoever the signed principal
 * names); the storefront only needs a non-null one to fetch a signed-in caller's orders.
 */
const SIGNED_IN = 'signed-in';

/**
 * `GET /api/v1/storefront/home` at the gateway: the monolith's storefront (same parts, deadlines,
 * `degraded`, ETag, 304 and Cache-Control) over HTTP sources that call the pools serving
 * `/api/v1/products` (featured, popular) and `/api/v1/orders` (a signed-in caller's recent
 * orders, sent with only the signed principal edge authentication made) through the gateway's
 * own balancing, health and retries. The gateway counts it in the rate limit of the prefix the
 * path falls under. A routes file that routes `/api/v1/storefront…` itself sends the page to that
 * pool instead (undefined here: no own route).
 *
 * An API-key caller gets their own page too. The gateway does not resolve keys (edge-auth.ts), so
 * the orders part is asked with the key itself and the orders upstream resolves it: an unknown or
 * revoked key answers 401 INVALID_TOKEN, as in the monolith. With the orders upstream down or
 * late the key cannot be checked: the page is the private one with `degraded: ["orders"]`, holding
 * only public products.
 */
export function gatewayStorefront(options: { deadlineMs: number; maxAgeSeconds: number; logger: Logger }) {
  return (context: OwnRouteContext): OwnRoute | undefined => {
    const home = context.routeFor(STOREFRONT_HOME);
    if (!home || home.prefix.startsWith('/api/v1/storefront')) return undefined;
    const catalog = context.routeFor('/api/v1/products')?.target;
    const orders = context.routeFor('/api/v1/orders')?.target;
    const countDegraded = createAggregateMetrics(context.metrics).degradedIn('storefront_home');
    const onDegraded = (part: string, reason: 'failed' | 'late', error?: unknown) => {
      countDegraded(part, reason);
      options.logger.warn({ part, reason, err: error instanceof Error ? error.message : undefined }, 'storefront: part left out');
    };
    const cacheControl = publicCacheControl(options.maxAgeSeconds);

    /**
     * A source's GET through `target`'s pool; with `credential` (only orders carry one), the
     * caller's signed principal or API key. A 401 is reported to `refused` before the part fails.
     */
    const getter = (target: ForwardTarget | undefined, exchange: Exchange, credential?: Record<string, string>, refused?: () => void): JsonGet => async (path, signal) => {
      if (!target) throw new Error(`no route serves ${path}`);
      const headers: Record<string, string> = { accept: 'application/json', 'x-request-id': exchange.id, 'x-forwarded-for': exchange.address, ...credential };
      const answer = await getThroughPool(target, { path, headers, signal }, context.forward);
      if (answer.status === 401) refused?.();
      if (answer.status !== 200) throw new Error(`${path} answered ${answer.status}`);
      return JSON.parse(Buffer.from(answer.body).toString('utf8')) as unknown;
    };
    const invalidCredential = (() => {
      const error = PlatformErrors.invalidToken();
      return { status: 401, headers: { 'content-type': 'application/problem+json; charset=utf-8', 'cache-control': 'no-store' }, body: JSON.stringify(problem(401, error.code, error.message)) };
    })();

    return {
      path: STOREFRONT_HOME,
      async answer(exchange) {
        const headers = exchange.req.headers;
        // Set by edge authentication for a valid token only; a client-sent one was dropped.
        const signed = headers[FORWARDED_PRINCIPAL_HEADER];
        const apiKey = headers['x-api-key'];
        const credential: Record<string, string> | undefined = typeof signed === 'string' ? { [FORWARDED_PRINCIPAL_HEADER]: signed } : typeof apiKey === 'string' ? { 'x-api-key': apiKey } : undefined;
        let refused = false;
        const storefront = createStorefront(
          httpSources({ catalog: getter(catalog, exchange), orders: getter(orders, exchange, credential, () => (refused = true)) }),
          { deadlineMs: options.deadlineMs, onDegraded },
        );
        const page = await storefront.home(credential === undefined ? null : SIGNED_IN);
        if (refused) return invalidCredential;
        return homeAnswer(page, credential !== undefined, headers['if-none-match'], cacheControl);
      },
    };
  };
}
