import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

/**
 * Random bytes for ids, drawn from a pool refilled 4 KiB at a time. uuid 14 (the version here)
 * asks `crypto.getRandomValues` for 16 bytes on every id (its rng.js: one synchronous call into
 * OpenSSL per id; the pool uuid once had, uuidjs/uuid#513, is gone): 4.9–5.2 µs per `v7()` here,
 * against 0.34–0.39 µs with this pool, measured 200 000 ids each in one run. Every order, user,
 * product and event gets one.
 */
const POOL = new Uint8Array(16 * 256);
let taken = POOL.length;

function random16(): Uint8Array {
  if (taken === POOL.length) {
    randomFillSync(POOL);
    taken = 0;
  }
  // uuid copies what it needs before the next call can refill the pool.
  return POOL.subarray(taken, (taken += 16));
}

/** The time-ordered sequence, as uuid keeps it when it draws its own bytes (v7.js `updateV7State`). */
const state = { msecs: -Infinity, seq: 0 };

/**
 * A new UUID version 7 (RFC 9562): millisecond time, then a counter seeded at random each
 * millisecond, then random bits. Ids from this process sort in the order they were made, as
 * uuid's own `v7()` promises, even within one millisecond.
 */
export function uuid7(): string {
  const random = random16();
  const now = Date.now();
  if (now > state.msecs) {
    state.seq = ((random[6]! & 0x7f) << 24) | (random[7]! << 16) | (random[8]! << 8) | random[9]!;
    state.msecs = now;
  } else {
    state.seq = (state.seq + 1) | 0;
    if (state.seq === 0) state.msecs++;
  }
  return v7({ msecs: state.msecs, seq: state.seq, random });
}
