import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { DomainError } from '../errors/domain-error.ts';
import { defineContract, localOnly, method } from './contract-table.ts';
import { internalRoutes } from './internal-routes.ts';
import { asBase64Bytes, mapAsRecord, optionalArg } from './wire-codecs.ts';

/*
 * Test fixtures only: a small contract with each kind of method, and loopback servers serving it.
 */

export const SECRET = 'a-test-secret-that-is-long-enough-0123456789';

export interface Stock {
  sku: string;
  available: number;
}

/** A contract shaped like the real ones: reads, keyed and unkeyed writes, a Map, bytes, a callback. */
export interface ShelfApi {
  get(sku: string): Promise<Stock | null>;
  many(skus: readonly string[]): Promise<Map<string, Stock>>;
  label(sku: string): Promise<Uint8Array | null>;
  /** Not idempotent: a second call adds again. Throws SKU_TAKEN for "taken". */
  add(sku: string, available: number): Promise<Stock>;
  touch(note?: string): Promise<void>;
  watch(listener: (sku: string) => void): void;
  peek?(sku: string): Stock | undefined;
}

const StockSchema = Type.Object({ sku: Type.String(), available: Type.Integer() });

export const shelfContract = defineContract<ShelfApi>()('shelf', {
  get: method({ input: Type.Tuple([Type.String()]), output: Type.Union([StockSchema, Type.Null()]), idempotent: true }),
  many: method({ input: Type.Tuple([Type.Array(Type.String())]), output: mapAsRecord(StockSchema), idempotent: true }),
  label: method({ input: Type.Tuple([Type.String()]), output: Type.Union([asBase64Bytes(), Type.Null()]), idempotent: true }),
  add: method({ input: Type.Tuple([Type.String(), Type.Integer({ minimum: 0 })]), output: StockSchema, idempotent: false }),
  touch: method({ input: Type.Tuple([optionalArg(Type.String())]), output: Type.Void(), idempotent: true }),
  watch: localOnly('takes a callback'),
  peek: localOnly('reads this process cache', { absent: true }),
});

/** What a test server does; changed by the test while it runs. */
export interface Behaviour {
  /** Every call waits for this first (a hung or slow instance). */
  gate?: Promise<void>;
  /** Every call throws a plain error (a 500). */
  broken?: boolean;
}

export interface Shelf extends ShelfApi {
  readonly name: string;
  /** `<method>:<first argument>` per call received, in order. */
  readonly calls: string[];
  behaviour: Behaviour;
}

/** An in-memory shelf; its answers name it, so a test sees which instance served a call. */
export function createShelf(name: string): Shelf {
  const stock = new Map<string, Stock>([['A-1', { sku: 'A-1', available: 3 }], ['B-2', { sku: 'B-2', available: 0 }]]);
  const calls: string[] = [];
  const shelf: Shelf = {
    name,
    calls,
    behaviour: {},
    get: async (sku) => (await enter('get', sku), stock.get(sku) ?? null),
    many: async (skus) => (await enter('many', skus.join()), new Map(skus.flatMap((s) => (stock.has(s) ? [[s, stock.get(s)!]] : [])))),
    label: async (sku) => (await enter('label', sku), stock.has(sku) ? new Uint8Array([0, 1, 2, 250, 255, ...Buffer.from(`${sku}@${name}`)]) : null),
    add: async (sku, available) => {
      await enter('add', sku);
      if (sku === 'taken') throw new DomainError('conflict', 'SKU_TAKEN', 'Another product has this SKU.');
      const level = { sku, available: (stock.get(sku)?.available ?? 0) + available };
      stock.set(sku, level);
      return level;
    },
    touch: async (note) => void (await enter('touch', String(note))),
    watch: () => {},
    peek: (sku) => stock.get(sku),
  };
  async function enter(method: string, arg: string): Promise<void> {
    calls.push(`${method}:${arg}`);
    if (shelf.behaviour.gate) await shelf.behaviour.gate;
    if (shelf.behaviour.broken) throw new Error('the shelf is broken');
  }
  return shelf;
}

/** A Fastify server on a loopback port serving `api`'s internal routes and /readyz. */
export async function serve<Api>(table: Parameters<typeof internalRoutes<Api>>[0], api: Api): Promise<{ url: string; app: FastifyInstance }> {
  // forceCloseConnections: a test ends with calls still hanging on a gated instance.
  const app = Fastify({ forceCloseConnections: true });
  app.get('/readyz', async () => ({ ready: true }));
  await app.register(internalRoutes(table, api, { secret: SECRET }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, app };
}

/** A loopback URL nothing listens on (bound, read, released). */
export async function deadUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return `http://127.0.0.1:${port}`;
}
