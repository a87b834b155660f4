import type { FastifyInstance, FastifyReply, FastifyRequest, onResponseHookHandler } from 'fastify';

export type ResponseObserver = (request: FastifyRequest, reply: FastifyReply, route: string) => void;

/**
 * Calls `observe` after every response with the route's template. The template is bound to each
 * route when it is registered: reading `request.routeOptions` per request allocates a dozen-field
 * object, which the hot path cannot afford. Requests that match no route report `unmatched`.
 * Must be installed before the routes are added.
 */
export function onEveryResponse(app: FastifyInstance, observe: ResponseObserver): void {
  app.addHook('onRoute', (route) => {
    const url = route.url;
    const hook: onResponseHookHandler = (request, reply, done) => {
      observe(request, reply, url);
      done();
    };
    const existing = route.onResponse === undefined ? [] : Array.isArray(route.onResponse) ? route.onResponse : [route.onResponse];
    route.onResponse = [...existing, hook];
  });
  app.addHook('onResponse', (request, reply, done) => {
    if (request.is404) observe(request, reply, 'unmatched');
    done();
  });
}
