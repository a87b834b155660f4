import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { FORWARDED_PRINCIPAL_HEADER, FORWARDED_PRINCIPAL_TTL_MS, signForwardedPrincipal } from '../auth/forwarded-principal.ts';
import type { Principal } from '../auth/principal.ts';
import type { TokenService } from '../auth/tokens.ts';

interface Verified {
  principal: Principal;
  /** `token:<subject>`, the limits' client key. */
  client: string;
  /** The signed header value and when it was signed (Date.now()). */
  forwarded: string;
  signedAt: number;
  /** When the cache entry ends: the token's expiry, at most a minute after it was verified. */
  until: number;
}

/** Re-sign a cached principal once a third of its validity has passed, so upstreams always get ≥ 20 s. */
const RESIGN_AFTER_MS = FORWARDED_PRINCIPAL_TTL_MS / 3;

/** What the edge made of a request's credentials: the client the limits count, or null when a credential is invalid. */
export type EdgeIdentity = string | null;

export interface EdgeAuthenticator {
  /**
   * Reads and rewrites `headers` in place; answers at once when it can (anonymous, API key, a
   * token verified before), else with a promise (a token seen for the first time).
   */
  authenticate(headers: IncomingHttpHeaders, address: string): EdgeIdentity | Promise<EdgeIdentity>;
  close(): void;
}

/**
 * Authentication at the edge. Every client-sent `x-scalemart-principal` is dropped, whatever else
 * happens. A `Bearer` JWT is verified once here (same TokenService and JWT_SECRET as the
 * upstreams); when valid, the gateway sets `x-scalemart-principal` to the principal signed with
 * INTERNAL_SECRET, and when invalid the answer is 401 INVALID_TOKEN. The Authorization header goes
 * on unchanged, so an upstream that does not read the signed header yet still authenticates.
 *
 * API keys: the gateway has no database, so `X-API-Key` is forwarded unchanged and the upstream
 * resolves it (identity owns the key hashes). Resolving it at the edge would cost an internal call
 * per request or a cache of key hashes that outlives revocations; limits count it by its hash.
 *
 * Verified tokens are cached by their text until they expire, for at most a minute (at most
 * 10 000; the cache is emptied when full): HS256 verification is cheap but async, and a client
 * sends the same token on every request. Time is read from a clock ticked once a second, not per
 * request: expiry and re-signing are decided to within a second, well inside the 30 s a signed
 * principal stays valid.
 */
export function createEdgeAuthenticator(options: { tokens: TokenService; internalSecret: string; cacheSize?: number }): EdgeAuthenticator {
  const { tokens, internalSecret } = options;
  const max = options.cacheSize ?? 10_000;
  const verified = new Map<string, Verified>();
  let now = Date.now();
  const clock = setInterval(() => (now = Date.now()), 1_000);
  clock.unref();

  function forward(headers: IncomingHttpHeaders, entry: Verified): string {
    if (now - entry.signedAt > RESIGN_AFTER_MS) {
      entry.forwarded = signForwardedPrincipal(entry.principal, internalSecret);
      entry.signedAt = now;
    }
    headers[FORWARDED_PRINCIPAL_HEADER] = entry.forwarded;
    return entry.client;
  }

  async function verify(headers: IncomingHttpHeaders, token: string): Promise<EdgeIdentity> {
    const principal = await tokens.verify(token);
    if (!principal) return null;
    const t = Date.now();
    const exp = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { exp?: number }).exp;
    const entry: Verified = {
      principal,
      client: `token:${principal.subject}`,
      forwarded: signForwardedPrincipal(principal, internalSecret, t),
      signedAt: t,
      until: Math.min(t + 60_000, exp === undefined ? Infinity : exp * 1000),
    };
    if (verified.size >= max) verified.clear();
    verified.set(token, entry);
    return forward(headers, entry);
  }

  return {
    authenticate(headers, address) {
      if (headers[FORWARDED_PRINCIPAL_HEADER] !== undefined) delete headers[FORWARDED_PRINCIPAL_HEADER];
      const authorization = headers.authorization;
      if (authorization !== undefined) {
        let token: string | undefined;
        if (authorization.startsWith('Bearer ') && authorization.indexOf(' ', 7) < 0) token = authorization.slice(7);
        else token = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
        if (!token) return null;
        const cached = verified.get(token);
        if (cached !== undefined && cached.until > now) return forward(headers, cached);
        return verify(headers, token);
      }
      const apiKey = headers['x-api-key'];
      return typeof apiKey === 'string' ? `api-key:${createHash('sha256').update(apiKey).digest('hex').slice(0, 32)}` : `ip:${address}`;
    },
    close() {
      clearInterval(clock);
    },
  };
}
