import type { Migration } from '../../platform/db/migrations.ts';

export const notificationsMigrations: Migration[] = [
  {
    id: '001-invoices-and-emails',
    sql: `
      create schema if not exists notifications;
      create table notifications.invoices (
        order_id text primary key,
        pdf bytea not null,
        issued_at timestamptz not null default now()
      );
      create table notifications.emails (
        order_id text not null,
        kind text not null,
        recipient text not null,
        sent_at timestamptz not null default now(),
        primary key (order_id, kind)
      );`,
  },
];
