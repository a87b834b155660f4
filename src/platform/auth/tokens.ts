import { createHash, randomBytes } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
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
}

/** HS256 JWTs signed with jose. */
export function createTokenService(options: TokenOptions): TokenService {
  const key = new TextEncoder().encode(options.secret);
  const issuer = options.issuer ?? 'scalemart';
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
      try {
        const { payload } = await jwtVerify(token, key, { issuer, algorithms: ['HS256'] });
        const role = payload.role;
        if (typeof payload.sub !== 'string' || (role !== 'customer' && role !== 'admin')) return null;
        return { subject: payload.sub, role, via: 'token' };
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
