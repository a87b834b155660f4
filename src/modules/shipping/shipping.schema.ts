import type { Migration } from '../../platform/db/migrations.ts';

export const shippingMigrations: Migration[] = [
  {
    id: '001-shipments',
    sql: `
      create schema if not exists shipping;
      create table shipping.shipments (
        order_id text primary key,
        idempotency_key text not null,
        request jsonb not null,
        status text not null check (status in ('pending', 'booked', 'rejected', 'cancelled')),
        shipment_id text,
        tracking_number text,
        updated_at timestamptz not null default now()
      );`,
  },
];
