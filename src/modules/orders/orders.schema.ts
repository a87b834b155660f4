import type { Migration } from '../../platform/db/migrations.ts';

export const ordersMigrations: Migration[] = [
  {
    id: '001-orders-and-read-models',
    sql: `
      create schema if not exists orders;
      create table orders.orders (
        id text primary key,
        customer_id text not null,
        customer_email text not null,
        customer_name text not null,
        status text not null check (status in ('pending', 'confirmed', 'failed', 'cancelled')),
        items jsonb not null,
        total integer not null check (total >= 0),
        currency char(3) not null,
        shipping_address jsonb not null,
        failure_reason text,
        tracking_number text,
        idempotency_key text,
        request_hash text,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
      );
      create unique index orders_idempotency on orders.orders (customer_id, idempotency_key) where idempotency_key is not null;
      -- Read models, fed by events and rebuildable from the log.
      create table orders.history (
        order_id text primary key,
        customer_id text not null,
        status text not null,
        total integer not null,
        currency char(3) not null,
        item_count integer not null,
        failure_reason text,
        created_at timestamptz not null,
        updated_at timestamptz not null
      );
      create index history_customer on orders.history (customer_id, order_id desc);
      create table orders.product_sales (
        product_id text primary key,
        units integer not null default 0,
        revenue bigint not null default 0,
        orders integer not null default 0
      );
      -- Events already counted, so a replay that re-delivers them cannot count them twice.
      create table orders.product_sales_applied (event_id text primary key);`,
  },
];
