import { describe, expect, it, vi } from 'vitest';
import { DECOY_HASH, hashPassword, verifyPassword } from './passwords.ts';
import { createTokenService, generateApiKey, hashApiKey } from './tokens.ts';

describe('passwords', () => {
  it('verifies the right password only, and never the decoy', async () => {
    const stored = await hashPassword('open sesame');
    expect(stored).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(stored).not.toContain('open sesame');
    expect(await verifyPassword('open sesame', stored)).toBe(true);
    expect(await verifyPassword('open sesame!', stored)).toBe(false);
    expect(await verifyPassword('anything', DECOY_HASH)).toBe(false);
    expect(await verifyPassword('anything', 'garbage')).toBe(false);
  });
});

describe('tokens', () => {
  const tokens = createTokenService({ secret: 's'.repeat(32), ttlSeconds: 60 });
  it('round-trips subject and role, and refuses another secret', async () => {
    const { token, expiresIn } = await tokens.issue('user-1', 'admin');
    expect(expiresIn).toBe(60);
    expect(await tokens.verify(token)).toEqual({ subject: 'user-1', role: 'admin', via: 'token' });
    const other = createTokenService({ secret: 'o'.repeat(32), ttlSeconds: 60 });
    expect(await other.verify(token)).toBeNull();
    expect(await tokens.verify('not.a.jwt')).toBeNull();
  });

  it('remembers a verified token only until it expires, and never a forged one', async () => {
    vi.useFakeTimers({ now: new Date('2026-12-01T12:00:00Z'), toFake: ['Date'] });
    try {
      const shortLived = createTokenService({ secret: 's'.repeat(32), ttlSeconds: 2 });
      const { token } = await shortLived.issue('user-2', 'customer');
      expect(await shortLived.verify(token)).toEqual({ subject: 'user-2', role: 'customer', via: 'token' });
      // The same text with another signature: refused, though the genuine one is remembered.
      const forged = `${token.slice(0, token.lastIndexOf('.') + 1)}${'A'.repeat(43)}`;
      expect(await shortLived.verify(forged)).toBeNull();
      vi.setSystemTime(new Date('2026-12-01T12:00:01.900Z'));
      expect(await shortLived.verify(token)).not.toBeNull();
      vi.setSystemTime(new Date('2026-12-01T12:00:02.000Z'));
      expect(await shortLived.verify(token)).toBeNull(); // expired: the memory does not outlive `exp`
    } finally {
      vi.useRealTimers();
    }
  });

  it('hashes API keys deterministically and never returns the key itself', () => {
    const key = generateApiKey();
    expect(key).toMatch(/^sm_[\w-]{43}$/);
    expect(hashApiKey(key)).toBe(hashApiKey(key));
    expect(hashApiKey(key)).not.toContain(key.slice(3));
  });
});
