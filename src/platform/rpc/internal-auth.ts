import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The header that authenticates one service calling another's internal API. Its value is
 * `<expiry ms>.<caller>.<mac>`: an HMAC-SHA256, with the secret every service holds
 * (`INTERNAL_SECRET`), over the expiry, the caller and the method and path called. A value is
 * good for one route for a short while, so a copied one is of little use; the body is not
 * signed (a caller that holds the secret is trusted with any body).
 */
export const INTERNAL_CALL_HEADER = 'x-scalemart-internal';

/** Long enough for a retry and for clocks a little apart, short enough that a copied value is useless. */
export const INTERNAL_CALL_TTL_MS = 30_000;

// Domain separation: the same secret signs forwarded principals, whose values never verify here.
const CONTEXT = 'scalemart-internal-call/v1';
const CALLER = /^[a-z][a-z0-9-]{0,63}$/;

function mac(secret: string, exp: string, caller: string, target: string): Buffer {
  return createHmac('sha256', secret).update(`${CONTEXT}\n${exp}\n${caller}\n${target}`).digest();
}

/** Signs a call from `caller` to `target` (`POST /internal/v1/inventory/reserve`). */
export function signInternalCall(secret: string, caller: string, target: string, nowMs = Date.now(), ttlMs = INTERNAL_CALL_TTL_MS): string {
  if (!CALLER.test(caller)) throw new RangeError(`caller must be lower-case letters, digits and dashes, got "${caller}"`);
  const exp = String(nowMs + ttlMs);
  return `${exp}.${caller}.${mac(secret, exp, caller, target).toString('base64url')}`;
}

/** The caller named by a header value for `target`, or null when it is absent, malformed, forged or expired. */
export function verifyInternalCall(value: string | string[] | undefined, secret: string, target: string, nowMs = Date.now()): string | null {
  if (typeof value !== 'string') return null;
  const [exp, caller, given, extra] = value.split('.');
  if (exp === undefined || caller === undefined || given === undefined || extra !== undefined) return null;
  if (!/^\d{1,15}$/.test(exp) || !CALLER.test(caller)) return null;
  const expected = mac(secret, exp, caller, target);
  const bytes = Buffer.from(given, 'base64url');
  if (bytes.length !== expected.length || !timingSafeEqual(bytes, expected)) return null;
  return Number(exp) > nowMs ? caller : null;
}
