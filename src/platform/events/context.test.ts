import { describe, expect, it } from 'vitest';
import { childTraceparent, currentEventContext, runWithEventContext } from './context.ts';

describe('event context', () => {
  it('continues a caller trace with a new span, and starts a trace when the header is missing or malformed', () => {
    const caller = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const child = childTraceparent(caller);
    expect(child).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    expect(child).not.toBe(caller);
    for (const header of [undefined, 'garbage', '00-00000000000000000000000000000000-00f067aa0ba902b7-01', ['a', 'b']]) {
      const fresh = childTraceparent(header);
      expect(fresh).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(fresh.slice(3, 35)).not.toBe('0'.repeat(32));
    }
  });

  it('is visible to async work started inside a run, and to nothing outside it', async () => {
    expect(currentEventContext()).toBeUndefined();
    const seen = await runWithEventContext({ requestId: 'req-1' }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      return currentEventContext();
    });
    expect(seen).toEqual({ requestId: 'req-1' });
    expect(currentEventContext()).toBeUndefined();
  });
});
