import type { Database } from '../../platform/db/database.ts';
import type { Carrier, ShipmentRequest } from './carrier.ts';
import type { ShippingApi } from './contract.ts';

export function createShippingService(db: Database, carrier: Carrier): ShippingApi {
  return {
    async book(request) {
      await db.query(
        `insert into shipping.shipments (order_id, idempotency_key, request, status) values ($1, $2, $3, 'pending') on conflict (order_id) do nothing`,
        [request.orderId, request.idempotencyKey, JSON.stringify(request)],
      );
      const result = await carrier.book(request);
      if (result.status === 'booked') {
        await db.query(
          `update shipping.shipments set status = 'booked', shipment_id = $2, tracking_number = $3, updated_at = now() where order_id = $1 and status = 'pending'`,
          [request.orderId, result.shipmentId, result.trackingNumber],
        );
        return { ok: true, shipmentId: result.shipmentId, trackingNumber: result.trackingNumber };
      }
      await db.query(`update shipping.shipments set status = 'rejected', updated_at = now() where order_id = $1 and status = 'pending'`, [request.orderId]);
      return { ok: false, reason: 'SHIPPING_REJECTED', detail: result.reason };
    },

    async cancel(orderId) {
      const { rows } = await db.query<{ idempotency_key: string; status: string; shipment_id: string | null; request: ShipmentRequest }>(
        'select idempotency_key, status, shipment_id, request from shipping.shipments where order_id = $1',
        [orderId],
      );
      const shipment = rows[0];
      if (!shipment || shipment.status === 'rejected' || shipment.status === 'cancelled') return;
      let shipmentId = shipment.shipment_id;
      if (shipment.status === 'pending') {
        // The booking's answer was lost: asking again under the same key returns the same shipment
        // (or books one), which is then cancelled, so no booking is left behind.
        const again = await carrier.book(shipment.request);
        shipmentId = again.status === 'booked' ? again.shipmentId : null;
      }
      if (shipmentId) await carrier.cancel({ idempotencyKey: `${shipment.idempotency_key}:cancel`, shipmentId });
      await db.query(`update shipping.shipments set status = 'cancelled', updated_at = now() where order_id = $1`, [orderId]);
    },
  };
}
