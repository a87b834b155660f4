/** What the payments module offers other modules (the order saga). */
export interface ChargeOrder {
  orderId: string;
  customerId: string;
  amount: number;
  currency: string;
  /** Stable per saga step, so a resumed saga never charges twice. */
  idempotencyKey: string;
}

export type ChargeOutcome = { ok: true; chargeId: string } | { ok: false; reason: 'PAYMENT_DECLINED'; detail: string };

export interface PaymentsApi {
  /** A definite answer, or DependencyUnavailableError when the provider cannot say. */
  charge(request: ChargeOrder): Promise<ChargeOutcome>;
  /**
   * Refunds the order's charge if there is one. Idempotent; harmless when nothing was charged.
   * When a charge's outcome was never learned, asks the provider by idempotency key first.
   */
  refund(orderId: string): Promise<void>;
}
