/**
 * A client's last write position carried by the client itself: behind a balancer its next read
 * lands on another instance, which has no memory of the write. The value is the WAL position
 * PostgreSQL prints (`16/B374D848`). The router reads only from replicas that replayed it, and
 * from the primary otherwise: a client that sends a position it never got (an absurd future one)
 * only sends its own reads to the primary, which rate limits already bound.
 */
export const WRITE_POSITION_HEADER = 'x-scalemart-write-position';

const FORMAT = /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/;

/** The position in a header value, or undefined when it is absent or not a WAL position. */
export function parseWritePosition(value: string | string[] | undefined): bigint | undefined {
  if (typeof value !== 'string' || !FORMAT.test(value)) return undefined;
  const slash = value.indexOf('/');
  return (BigInt(`0x${value.slice(0, slash)}`) << 32n) + BigInt(`0x${value.slice(slash + 1)}`);
}

export function formatWritePosition(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** What a request carries in and out: the position it arrived with, and where a write of its own tells it the new one. */
export interface CarriedWritePosition {
  lastWriteLsn?: bigint;
  wrote(lsn: bigint): void;
}
