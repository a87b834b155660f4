import type { Migration } from '../../platform/db/migrations.ts';

export const paymentsMigrations: Migration[] = [
  {
    id: '001-payments',
    sql: `
      create schema if not exists payments;
      create table payments.payments (
        order_id text primary key,
        idempotency_key text not null,
        amount integer not null,
        currency char(3) not null,
        -- pending: asked the provider, answer not recorded (a crash or a time-out in between).
        status text not null check (status in ('pending', 'charged', 'declined', 'refunded')),
        charge_id text,
        refund_id text,
        updated_at timestamptz not null default now()
      );`,
  },
];
