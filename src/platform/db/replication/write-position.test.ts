import { describe, expect, it } from 'vitest';
import { parseLsn } from './lsn.ts';
import { formatWritePosition, parseWritePosition } from './write-position.ts';

describe('a write position carried by the client', () => {
  it('reads and prints the WAL positions PostgreSQL prints', () => {
    expect(parseWritePosition('16/B374D848')).toBe(parseLsn('16/B374D848'));
    expect(parseWritePosition('0/0')).toBe(0n);
    expect(formatWritePosition(parseLsn('16/B374D848'))).toBe('16/B374D848');
    expect(formatWritePosition(parseWritePosition('FFFFFFFF/FFFFFFFF')!)).toBe('FFFFFFFF/FFFFFFFF');
  });

  it.each([undefined, '', '16', '/1', '1/', '16/B374D848/1', '123456789/0', '0/123456789', '-1/0', '0x1/0', ' 1/0', 'zz/00', ['1/0', '2/0']])(
    'ignores %j', (value) => {
      expect(parseWritePosition(value)).toBeUndefined();
    },
  );
});
