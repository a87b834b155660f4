import type { Config } from '../platform/config/config.ts';
import type { Warehouse } from '../modules/notifications/warehouse.ts';
import { createSimulatedWarehouse } from '../modules/notifications/simulated-warehouse.ts';
import type { PaymentProvider } from '../modules/payments/provider.ts';
import { createSimulatedPaymentProvider } from '../modules/payments/simulated-payment-provider.ts';
import type { Carrier } from '../modules/shipping/carrier.ts';
import { createSimulatedCarrier } from '../modules/shipping/simulated-carrier.ts';

export interface Providers {
  payments: PaymentProvider;
  carrier: Carrier;
  warehouse: Warehouse;
}

/**
 * The systems outside Scalemart. Without PROVIDERS_URL they are simulated in-process (the
 * monolith's embedded default); with it, HTTP adapters behind resilience policies call them.
 */
export function createProviders(config: Config, override?: Partial<Providers>): Providers {
  if (config.providers.url) throw new Error('PROVIDERS_URL: the HTTP provider adapters are not wired yet');
  return {
    payments: override?.payments ?? createSimulatedPaymentProvider(),
    carrier: override?.carrier ?? createSimulatedCarrier(),
    warehouse: override?.warehouse ?? createSimulatedWarehouse(),
  };
}
