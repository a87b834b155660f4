import type { Config } from '../platform/config/config.ts';
import type { DependencyObserver } from '../platform/resilience/policy.ts';
import { createHttpWarehouse } from '../modules/notifications/http-warehouse.ts';
import { createSimulatedWarehouse } from '../modules/notifications/simulated-warehouse.ts';
import type { Warehouse } from '../modules/notifications/warehouse.ts';
import { createHttpPaymentProvider } from '../modules/payments/http-payment-provider.ts';
import type { PaymentProvider } from '../modules/payments/provider.ts';
import { createSimulatedPaymentProvider } from '../modules/payments/simulated-payment-provider.ts';
import type { Carrier } from '../modules/shipping/carrier.ts';
import { createHttpCarrier } from '../modules/shipping/http-carrier.ts';
import { createSimulatedCarrier } from '../modules/shipping/simulated-carrier.ts';

export interface Providers {
  payments: PaymentProvider;
  carrier: Carrier;
  warehouse: Warehouse;
  close(): Promise<void>;
}

/**
 * The systems outside Scalemart. Without PROVIDERS_URL they are simulated in-process (the
 * monolith's embedded default); with it, HTTP adapters call them, each behind its own timeout,
 * retry and circuit breaker, their circuits reported to `observer` (the process's metrics).
 */
export function createProviders(config: Config, override: Partial<Omit<Providers, 'close'>> = {}, observer?: DependencyObserver): Providers {
  if (!config.providers.url) {
    return {
      payments: override.payments ?? createSimulatedPaymentProvider(),
      carrier: override.carrier ?? createSimulatedCarrier(),
      warehouse: override.warehouse ?? createSimulatedWarehouse(),
      close: async () => undefined,
    };
  }
  const options = { baseUrl: config.providers.url, policy: { timeoutMs: config.providers.timeoutMs, observer } };
  const payments = createHttpPaymentProvider(options);
  const carrier = createHttpCarrier(options);
  const warehouse = createHttpWarehouse(options);
  return {
    payments: override.payments ?? payments,
    carrier: override.carrier ?? carrier,
    warehouse: override.warehouse ?? warehouse,
    close: async () => void (await Promise.all([payments.close(), carrier.close(), warehouse.close()])),
  };
}
