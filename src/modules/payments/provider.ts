/**
 * The port to an external payment provider. Every call carries an idempotency key: the provider
 * answers a repeated key with the first result and never charges twice.
 */
export interface ChargeRequest {
  idempotencyKey: string;
  orderId: string;
  customerId: string;
  /** Integer minor units. */
  amount: number;
  currency: string;
}

export type ChargeResult =
  | { status: 'succeeded'; chargeId: string }
  | { status: 'declined'; reason: string };

export interface RefundRequest {
  idempotencyKey: string;
  chargeId: string;
  amount: number;
}

export interface PaymentProvider {
  /** Resolves with the provider's decision; throws DependencyUnavailableError when it cannot be reached or fails. */
  charge(request: ChargeRequest): Promise<ChargeResult>;
  refund(request: RefundRequest): Promise<{ refundId: string }>;
  /** The charge made under an idempotency key, if any: how a lost answer is recovered. */
  findCharge(idempotencyKey: string): Promise<{ chargeId: string } | null>;
}
