import { Type } from 'typebox';
import { defineContract, method } from '../../platform/rpc/index.ts';
import type { ShippingApi } from './contract.ts';

const ShippingAddress = Type.Object({
  name: Type.String(),
  line1: Type.String(),
  line2: Type.Optional(Type.String()),
  city: Type.String(),
  postalCode: Type.String(),
  country: Type.String(),
});
const BookShipment = Type.Object({
  orderId: Type.String(),
  address: ShippingAddress,
  items: Type.Array(Type.Object({ sku: Type.String(), quantity: Type.Integer({ minimum: 1 }) })),
  idempotencyKey: Type.String(),
});
const BookingOutcome = Type.Union([
  Type.Object({ ok: Type.Literal(true), shipmentId: Type.String(), trackingNumber: Type.String() }),
  Type.Object({ ok: Type.Literal(false), reason: Type.Literal('SHIPPING_REJECTED'), detail: Type.String() }),
]);

/** The shipping contract on the wire; its caller is the order saga. A booking is keyed by its idempotency key. */
export const shippingContract = defineContract<ShippingApi>()('shipping', {
  book: method({ input: Type.Tuple([BookShipment]), output: BookingOutcome, idempotent: true }),
  cancel: method({ input: Type.Tuple([Type.String()]), output: Type.Void(), idempotent: true }),
});
