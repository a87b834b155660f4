import type { Database } from '../../platform/db/database.ts';
import type { Migration } from '../../platform/db/migrations.ts';
import type { Carrier } from './carrier.ts';
import type { ShippingApi } from './contract.ts';
import { shippingMigrations } from './shipping.schema.ts';
import { createShippingService } from './shipping.service.ts';

export interface ShippingModule {
  name: 'shipping';
  migrations: Migration[];
  api: ShippingApi;
}

export function createShippingModule(deps: { db: Database; carrier: Carrier }): ShippingModule {
  return { name: 'shipping', migrations: shippingMigrations, api: createShippingService(deps.db, deps.carrier) };
}
