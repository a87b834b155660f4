import { Type } from 'typebox';
import { defineContract, localOnly, method, optionalArg } from '../../platform/rpc/index.ts';
import type { CatalogApi } from './contract.ts';

/** A product as the contract returns it; the public routes' schema adds to it (catalog.routes.ts). */
export const ProductWire = Type.Object({
  id: Type.String(),
  sku: Type.String(),
  name: Type.String(),
  description: Type.String(),
  category: Type.String(),
  price: Type.Integer(),
  currency: Type.String(),
  version: Type.Integer(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
const ProductDetail = Type.Object({
  product: ProductWire,
  stock: Type.Object({
    available: Type.Integer(),
    status: Type.Union([Type.Literal('in_stock'), Type.Literal('low_stock'), Type.Literal('out_of_stock')]),
    version: Type.Integer(),
  }),
});
const ProductFields = {
  name: Type.String(),
  description: Type.Optional(Type.String()),
  category: Type.String(),
  price: Type.Integer({ minimum: 0 }),
  currency: Type.Optional(Type.String()),
};
const NewProduct = Type.Object({ sku: Type.String(), ...ProductFields });
const ProductChanges = Type.Partial(Type.Object(ProductFields));

/**
 * The catalog contract on the wire. Orders calls getProduct; the rest is there so that a remote
 * client has the whole contract. Creating a product is not idempotent (a retry would meet
 * SKU_TAKEN), and an update bumps the version each time, so neither is retried.
 */
export const catalogContract = defineContract<CatalogApi>()('catalog', {
  getProduct: method({ input: Type.Tuple([Type.String()]), output: Type.Union([ProductWire, Type.Null()]), idempotent: true }),
  getProductDetail: method({ input: Type.Tuple([Type.String()]), output: Type.Union([ProductDetail, Type.Null()]), idempotent: true }),
  peekProductDetail: localOnly('reads this process\'s cache; a caller without it calls getProductDetail', { absent: true }),
  listProducts: method({
    input: Type.Tuple([Type.Object({ category: Type.Optional(Type.String()), q: Type.Optional(Type.String()), cursor: Type.Optional(Type.String()), limit: Type.Integer({ minimum: 1 }) })]),
    output: Type.Object({ items: Type.Array(ProductDetail), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
    idempotent: true,
  }),
  peekProducts: localOnly('reads this process\'s cache; a caller without it calls listProducts', { absent: true }),
  popularProducts: method({
    input: Type.Tuple([Type.Integer({ minimum: 1 }), optionalArg(Type.String())]),
    output: Type.Array(Type.Object({ ...ProductDetail.properties, views: Type.Integer() })),
    idempotent: true,
  }),
  createProduct: method({ input: Type.Tuple([NewProduct, optionalArg(Type.Integer({ minimum: 0 }))]), output: ProductWire, idempotent: false }),
  updateProduct: method({ input: Type.Tuple([Type.String(), ProductChanges]), output: Type.Union([ProductWire, Type.Null()]), idempotent: false }),
  importProducts: method({ input: Type.Tuple([Type.Array(Type.Object({ id: Type.String(), ...NewProduct.properties }))]), output: Type.Void(), idempotent: true }),
  countProducts: method({ input: Type.Tuple([]), output: Type.Integer(), idempotent: true }),
});
