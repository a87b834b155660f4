import type { FastifyInstance, FastifyReply, FastifyRequest, preValidationHookHandler } from 'fastify';
import { PlatformErrors } from '../errors/domain-error.ts';
import { FORWARDED_PRINCIPAL_HEADER, verifyForwardedPrincipal } from '../auth/forwarded-principal.ts';
import type { ApiKeyResolver, Principal, Role } from '../auth/principal.ts';
import { hashApiKey, type TokenService } from '../auth/tokens.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** Sets what every answer carries before anything can refuse the request (the request id). */
export type FirstOnRequest = (request: FastifyRequest, reply: FastifyReply) => void;

/**
 * Reads `Authorization: Bearer` or `X-API-Key` on every request. A credential that is present but
 * invalid is refused with 401 even on public routes: a client should learn its token expired.
 * `first` runs at the start of the same hook (one onRequest hook per request instead of two).
 *
 * With `internalSecret`, a request whose `x-scalemart-principal` verifies (a gateway checked the
 * client's credential already) is that principal, and its credential is not checked again. A
 * value that does not verify, or any value without a secret, is ignored as if absent: a client
 * that sends one gains nothing and learns nothing.
 */
export function installAuthentication(app: FastifyInstance, tokens: TokenService, resolveApiKey: ApiKeyResolver, first?: FirstOnRequest, internalSecret?: string): void {
  app.decorateRequest('principal', null);
  async function authenticate(request: FastifyRequest, authorization: string | undefined, apiKey: string | undefined): Promise<void> {
    if (authorization !== undefined) {
      const match = /^Bearer\s+(\S+)$/i.exec(authorization);
      request.principal = match ? await tokens.verify(match[1]!) : null;
    } else {
      request.principal = await resolveApiKey(hashApiKey(apiKey!));
    }
    if (!request.principal) throw PlatformErrors.invalidToken();
  }
  // Callback-style so an anonymous request (most reads) pays no promise.
  const fromCredentials = (request: FastifyRequest, done: (error?: Error) => void) => {
    const authorization = request.headers.authorization;
    const apiKey = request.headers['x-api-key'];
    if (authorization === undefined && typeof apiKey !== 'string') return done();
    authenticate(request, authorization, typeof apiKey === 'string' ? apiKey : undefined).then(() => done(), done);
  };
  if (internalSecret === undefined) {
    // Without the secret the header is never looked at: the hook is what it was before gateways.
    app.addHook('onRequest', (request, reply, done) => {
      first?.(request, reply);
      const authorization = request.headers.authorization;
      const apiKey = request.headers['x-api-key'];
      if (authorization === undefined && typeof apiKey !== 'string') return done();
      authenticate(request, authorization, typeof apiKey === 'string' ? apiKey : undefined).then(() => done(), done);
    });
    return;
  }
  app.addHook('onRequest', (request, reply, done) => {
    first?.(request, reply);
    const forwarded = request.headers[FORWARDED_PRINCIPAL_HEADER];
    if (typeof forwarded === 'string') {
      const principal = verifyForwardedPrincipal(forwarded, internalSecret);
      if (principal) {
        request.principal = principal;
        return done();
      }
    }
    fromCredentials(request, done);
  });
}

/** A route guard: 401 without a principal, 403 when an admin route meets a customer. */
export function requireRole(role: Role): preValidationHookHandler {
  return async (request: FastifyRequest) => {
    if (!request.principal) throw PlatformErrors.unauthenticated();
    if (role === 'admin' && request.principal.role !== 'admin') throw PlatformErrors.forbidden();
  };
}

/** The caller of a guarded route. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw PlatformErrors.unauthenticated();
  return request.principal;
}

/** OpenAPI security requirement of a guarded route: a bearer token or an API key. */
export const AUTHENTICATED: Array<Record<string, string[]>> = [{ bearer: [] }, { apiKey: [] }];

/**
 * OpenAPI security requirement of a public route: none. Stated rather than left out, so that the
 * document says so (a client generator otherwise cannot tell "public" from "forgot to say"). A
 * credential that is sent anyway is still checked (see installAuthentication).
 */
export const PUBLIC: Array<Record<string, string[]>> = [];
