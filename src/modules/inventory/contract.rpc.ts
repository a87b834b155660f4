import { Type } from 'typebox';
import { defineContract, localOnly, mapAsRecord, method } from '../../platform/rpc/index.ts';
import type { InventoryApi } from './contract.ts';

const StockLevel = Type.Object({ sku: Type.String(), available: Type.Integer(), reserved: Type.Integer(), version: Type.Integer(), updatedAt: Type.String() });
const StockLine = Type.Object({ sku: Type.String(), quantity: Type.Integer({ minimum: 1 }) });
const ReserveResult = Type.Union([
  Type.Object({ ok: Type.Literal(true), reservationId: Type.String() }),
  Type.Object({ ok: Type.Literal(false), reason: Type.Union([Type.Literal('OUT_OF_STOCK'), Type.Literal('UNKNOWN_SKU')]), sku: Type.String() }),
]);

/**
 * The inventory contract on the wire. Callers today: catalog (getStock, getStockMany, setStock,
 * onStockChanged) and the order saga (reserve, commit, release, returnStock). Every write is
 * keyed (a SKU's absolute level, a reservation id), so every remote method is idempotent.
 */
export const inventoryContract = defineContract<InventoryApi>()('inventory', {
  getStock: method({ input: Type.Tuple([Type.String()]), output: Type.Union([StockLevel, Type.Null()]), idempotent: true }),
  getStockMany: method({ input: Type.Tuple([Type.Array(Type.String())]), output: mapAsRecord(StockLevel), idempotent: true }),
  setStock: method({ input: Type.Tuple([Type.String(), Type.Integer({ minimum: 0 })]), output: StockLevel, idempotent: true }),
  initStock: method({ input: Type.Tuple([Type.String(), Type.Integer({ minimum: 0 })]), output: StockLevel, idempotent: true }),
  reserve: method({ input: Type.Tuple([Type.String(), Type.Array(StockLine)]), output: ReserveResult, idempotent: true }),
  commit: method({ input: Type.Tuple([Type.String()]), output: Type.Boolean(), idempotent: true }),
  release: method({ input: Type.Tuple([Type.String()]), output: Type.Boolean(), idempotent: true }),
  returnStock: method({ input: Type.Tuple([Type.String()]), output: Type.Boolean(), idempotent: true }),
  onStockChanged: localOnly('takes a callback; across processes the inventory service publishes inventory.stock.changed'),
  importStock: method({ input: Type.Tuple([Type.Array(Type.Object({ sku: Type.String(), available: Type.Integer({ minimum: 0 }) }))]), output: Type.Void(), idempotent: true }),
});
