import { createHash, randomBytes } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { LRUCache } from 'lru-cache';
import type { Principal, Role } from './principal.ts';

export interface TokenService {
  /** Signs a short-lived access token; `expiresIn` is in seconds. */
  issue(subject: string, role: Role): Promise<{ token: string; expiresIn: number }>;
  /** The principal of a valid token, or null when it is malformed, forged or expired. */
  verify(token: string): Promise<Principal | null>;
}

export interface TokenOptions {
  secret: string;
  ttlSeconds: number;
  issuer?: string;
  /** Verified tokens remembered (0: none). Default 10 000. */
  cacheSize?: number;
}

/** A verified token is remembered for at most this long, and never past its own expiry. */
const VERIFIED_TTL_MS = 60_000;

/**
 * HS256 JWTs signed with jose.
 *
 * Verified tokens are remembered by their exact text until they expire (at most a minute, at most
 * `cacheSize` of them): a signed-in client sends the same token on every request, and jose's
 * `jwtVerify` goes through WebCrypto (`crypto.subtle.verify`, a promise and a key lookup per call),
 * which cost a cached product GET carrying a token about 2.5× the CPU of an anonymous one. Only
 * valid tokens are remembered, so a forged or expired one is checked every time; nothing about a
 * token can change before it expires (there is no revocation list: a token is valid until `exp`).
 */
export function createTokenService(options: TokenOptions): TokenService {
  const key = new TextEncoder().encode(options.secret);
  const issuer = options.issuer ?? 'scalemart';
  const cacheSize = options.cacheSize ?? 10_000;
  const verified = cacheSize > 0 ? new LRUCache<string, { principal: Principal; until: number }>({ max: cacheSize }) : undefined;
  return {
    async issue(subject, role) {
      const token = await new SignJWT({ role })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(subject)
        .setIssuer(issuer)
        .setIssuedAt()
        .setExpirationTime(`${options.ttlSeconds}s`)
        .sign(key);
      return { token, expiresIn: options.ttlSeconds };
    },
    async verify(token) {
      const now = Date.now();
      const known = verified?.get(token);
      if (known !== undefined) {
        if (known.until > now) return known.principal;
        verified!.delete(token);
      }
      try {
        const { payload } = await jwtVerify(token, key, { issuer, algorithms: ['HS256'] });
        const role = payload.role;
        if (typeof payload.sub !== 'string' || (role !== 'customer' && role !== 'admin')) return null;
        const principal: Principal = Object.freeze({ subject: payload.sub, role, via: 'token' });
        // Ours always carry `exp` (jwtVerify refuses a past one); a token without one is kept a minute.
        const until = Math.min(now + VERIFIED_TTL_MS, typeof payload.exp === 'number' ? payload.exp * 1000 : Infinity);
        verified?.set(token, { principal, until });
        return principal;
      } catch (error) {
        if (error instanceof errors.JOSEError || error instanceof TypeError) return null;
        throw error;
      }
    },
  };
}

/** A new API key: `sm_` + 32 random bytes. Only its hash is stored. */
export function generateApiKey(): string {
  return `sm_${randomBytes(32).toString('base64url')}`;
}

/** API keys carry 256 bits of entropy, so a fast hash is enough (no salt or stretching needed). */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
