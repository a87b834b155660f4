import type { EventEnvelope, NewEvent } from './event.ts';

/**
 * A module's published events: type → payload. A module declares its catalogue in its contract,
 * so producers cannot append a payload its consumers do not expect, and consumers get the payload
 * narrowed by `type` instead of casting.
 */
export type EventCatalogue = { [type: string]: object };

/** An event of the catalogue as a producer appends it (id and time are filled in). */
export type NewEventOf<C extends EventCatalogue> = { [T in keyof C & string]: NewEvent<C[T]> & { type: T } }[keyof C & string];

/** A delivered event of the catalogue, optionally restricted to some of its types; `type` narrows the payload. */
export type EventOf<C extends EventCatalogue, T extends keyof C & string = keyof C & string> = { [K in T]: EventEnvelope<C[K]> & { type: K } }[T];
