import { Type, type StaticDecode, type TSchema } from 'typebox';

/*
 * Shapes JSON cannot carry, as TypeBox codecs: the wire schema is JSON, the decoded value is what
 * the contract's TypeScript type says. Each encoder passes through what is not its own type,
 * because TypeBox tries every member of a union (`Type.Union([asBase64Bytes(), Type.Null()])`).
 */

/** `Map<string, V>` ⇄ a JSON object of the same entries. */
export function mapAsRecord<V extends TSchema>(value: V) {
  return Type.Codec(Type.Record(Type.String(), value))
    .Decode((record) => new Map(Object.entries(record)) as Map<string, StaticDecode<V>>)
    .Encode((map) => (map instanceof Map ? Object.fromEntries(map) : map) as Record<string, StaticDecode<V>>);
}

/** Bytes (`Uint8Array`, a Buffer included) ⇄ a base64 string. */
export function asBase64Bytes() {
  return Type.Codec(Type.String({ contentEncoding: 'base64' }))
    .Decode((text) => new Uint8Array(Buffer.from(text, 'base64')))
    .Encode((bytes) => (bytes instanceof Uint8Array ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') : bytes) as string);
}

/**
 * An argument the caller may leave out (`popularProducts(limit, category?)`) ⇄ null: JSON has no
 * undefined in an array. The client passes every argument of the tuple, missing ones as undefined.
 */
export function optionalArg<T extends TSchema>(value: T) {
  return Type.Codec(Type.Union([value, Type.Null()]))
    .Decode((wire) => (wire ?? undefined) as StaticDecode<T> | undefined)
    .Encode((given) => (given ?? null) as StaticDecode<T> | null);
}
