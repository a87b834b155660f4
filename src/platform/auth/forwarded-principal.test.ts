import { describe, expect, it } from 'vitest';
import { signForwardedPrincipal, verifyForwardedPrincipal } from './forwarded-principal.ts';

const SECRET = 'a-secret-only-gateways-and-upstreams-hold';
const alice = { subject: 'user-1', role: 'customer', via: 'token' } as const;

describe('forwarded principal', () => {
  it('round-trips a principal signed with the shared secret', () => {
    const value = signForwardedPrincipal(alice, SECRET, 1_000);
    expect(verifyForwardedPrincipal(value, SECRET, 1_001)).toEqual(alice);
  });

  it('refuses a value signed with another secret', () => {
    const value = signForwardedPrincipal(alice, 'another-secret-of-at-least-32-chars!!', 1_000);
    expect(verifyForwardedPrincipal(value, SECRET, 1_001)).toBeNull();
  });

  it('refuses a payload a client edited to become admin', () => {
    const value = signForwardedPrincipal(alice, SECRET, 1_000);
    const [, mac] = value.split('.');
    const forged = Buffer.from(JSON.stringify({ sub: 'user-1', role: 'admin', via: 'token', exp: 10_000 })).toString('base64url');
    expect(verifyForwardedPrincipal(`${forged}.${mac}`, SECRET, 1_001)).toBeNull();
  });

  it('refuses an expired value', () => {
    const value = signForwardedPrincipal(alice, SECRET, 1_000, 100);
    expect(verifyForwardedPrincipal(value, SECRET, 1_099)).toEqual(alice);
    expect(verifyForwardedPrincipal(value, SECRET, 1_100)).toBeNull();
  });

  it.each(['', '.', 'abc', 'abc.', '.abc', 'not-json.AAAA', 'a.b.c'])('refuses the malformed value %j', (value) => {
    expect(verifyForwardedPrincipal(value, SECRET)).toBeNull();
  });
});
