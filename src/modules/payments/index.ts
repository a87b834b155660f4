import type { Database } from '../../platform/db/database.ts';
import type { Migration } from '../../platform/db/migrations.ts';
import type { PaymentsApi } from './contract.ts';
import { paymentsMigrations } from './payments.schema.ts';
import { createPaymentsService } from './payments.service.ts';
import type { PaymentProvider } from './provider.ts';

export interface PaymentsModule {
  name: 'payments';
  migrations: Migration[];
  api: PaymentsApi;
}

export function createPaymentsModule(deps: { db: Database; provider: PaymentProvider }): PaymentsModule {
  return { name: 'payments', migrations: paymentsMigrations, api: createPaymentsService(deps.db, deps.provider) };
}
