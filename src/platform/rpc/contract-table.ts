import type { StaticDecode, TSchema, TTuple } from 'typebox';

/**
 * One method of a contract that can cross the wire. `input` is a tuple of the arguments, `output`
 * the answer; either may hold TypeBox codecs (see wire-codecs.ts) for shapes JSON cannot carry,
 * which are encoded by the caller and decoded by the callee, and the other way for the answer.
 */
export interface RemoteMethod<Args = unknown, Result = unknown> {
  readonly kind: 'remote';
  readonly input: TTuple;
  readonly output: TSchema;
  /**
   * True when calling twice has the effect of calling once: reads, and writes keyed by an id
   * the caller chooses (a reservation id, an idempotency key). Only these are retried, and only
   * these may be retried on another instance after a timeout, when the first may have run.
   */
  readonly idempotent: boolean;
  /** Never set: carries the decoded types so a table is checked against its contract. */
  readonly '~types'?: { readonly args: Args; readonly result: Result };
}

/** A method that only makes sense in the caller's process (a callback, a cache peek, a lab switch). */
export interface LocalOnlyMethod {
  readonly kind: 'local-only';
  /** Why it cannot cross the wire; the error a remote call raises says it. */
  readonly reason: string;
  /** The remote client leaves the method out (for optional methods callers test for) instead of throwing. */
  readonly absent: boolean;
}

type Entry<F> = F extends (...args: infer A) => Promise<infer R> ? RemoteMethod<A, R> | LocalOnlyMethod : LocalOnlyMethod;

/** Every method of `Api`, each described once; a contract method without a line fails the type check. */
export type MethodTable<Api> = { readonly [K in keyof Api]-?: Entry<NonNullable<Api[K]>> };

/** A contract as a table: the module that serves it, and its methods. */
export interface ContractTable<Api> {
  /** Names the routes (`/internal/v1/<module>/<method>`) and the dependency in errors and policies. */
  readonly module: string;
  readonly methods: MethodTable<Api>;
}

/** The remote methods of a table, by name. */
export function remoteMethods<Api>(table: ContractTable<Api>): Array<[name: string, method: RemoteMethod]> {
  return Object.entries(table.methods as Record<string, RemoteMethod | LocalOnlyMethod>)
    .filter((entry): entry is [string, RemoteMethod] => entry[1].kind === 'remote');
}

/**
 * Describes a contract, checked against its TypeScript interface:
 * `defineContract<InventoryApi>()('inventory', { getStock: method({ … }), … })`. Curried so that
 * `Api` is given and the methods are inferred.
 */
export function defineContract<Api>(): (module: string, methods: MethodTable<Api>) => ContractTable<Api> {
  return (module, methods) => {
    if (!/^[a-z][a-z0-9-]*$/.test(module)) throw new RangeError(`contract module name must be lower-case letters, digits and dashes, got "${module}"`);
    return Object.freeze({ module, methods: Object.freeze({ ...methods }) });
  };
}

/** One remote method: arguments as a tuple, the answer, and whether a repeat is harmless. */
export function method<I extends TTuple, O extends TSchema>(spec: { input: I; output: O; idempotent: boolean }): RemoteMethod<StaticDecode<I>, StaticDecode<O>> {
  return Object.freeze({ kind: 'remote', input: spec.input, output: spec.output, idempotent: spec.idempotent });
}

/** A method kept out of the remote client: calling it there throws RPC_LOCAL_ONLY with `reason`. */
export function localOnly(reason: string, options: { absent?: boolean } = {}): LocalOnlyMethod {
  return Object.freeze({ kind: 'local-only', reason, absent: options.absent ?? false });
}

/**
 * The client for a callee in the same process: the api itself, typed by the table. Nothing is
 * encoded or validated; the table only proves the contract and its wire form agree.
 */
export function localClient<Api>(_table: ContractTable<Api>, api: Api): Api {
  return api;
}
