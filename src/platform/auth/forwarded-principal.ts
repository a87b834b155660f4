import { createHmac, timingSafeEqual } from 'node:crypto';
import { ROLES, type Principal, type Role } from './principal.ts';

/**
 * The header a gateway uses to tell an upstream who is calling, after checking the client's token
 * or API key once at the edge. Its value is `<payload>.<mac>`: the principal and an expiry in
 * base64url JSON, and an HMAC-SHA256 over the payload with a secret only gateways and upstreams
 * hold (`INTERNAL_SECRET`). A client can send the header too; without the secret it cannot make a
 * value that verifies, and an upstream treats a value that does not verify as absent.
 */
export const FORWARDED_PRINCIPAL_HEADER = 'x-scalemart-principal';

/** How long a forwarded principal stays valid: long enough for a retry, short enough that a copied value is useless. */
export const FORWARDED_PRINCIPAL_TTL_MS = 30_000;

interface Payload {
  sub: string;
  role: Role;
  via: Principal['via'];
  /** Expiry, milliseconds since the epoch. */
  exp: number;
}

function mac(secret: string, payload: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest();
}

/** Signs `principal` for the upstream; valid for `ttlMs` from `nowMs`. */
export function signForwardedPrincipal(principal: Principal, secret: string, nowMs = Date.now(), ttlMs = FORWARDED_PRINCIPAL_TTL_MS): string {
  const body: Payload = { sub: principal.subject, role: principal.role, via: principal.via, exp: nowMs + ttlMs };
  const payload = Buffer.from(JSON.stringify(body)).toString('base64url');
  return `${payload}.${mac(secret, payload).toString('base64url')}`;
}

/** The principal in a header value, or null when it is malformed, forged or expired. */
export function verifyForwardedPrincipal(value: string, secret: string, nowMs = Date.now()): Principal | null {
  const dot = value.indexOf('.');
  if (dot <= 0 || dot === value.length - 1) return null;
  const payload = value.slice(0, dot);
  const given = Buffer.from(value.slice(dot + 1), 'base64url');
  const expected = mac(secret, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  let body: Partial<Payload>;
  try {
    body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Partial<Payload>;
  } catch {
    return null;
  }
  if (typeof body.sub !== 'string' || !ROLES.includes(body.role as Role) || (body.via !== 'token' && body.via !== 'api-key')) return null;
  if (typeof body.exp !== 'number' || body.exp <= nowMs) return null;
  return { subject: body.sub, role: body.role as Role, via: body.via };
}
