import type { Migration } from '../../platform/db/migrations.ts';

export const inventoryMigrations: Migration[] = [
  {
    id: '001-stock-and-reservations',
    sql: `
      create schema if not exists inventory;
      create table inventory.stock (
        sku text primary key,
        available integer not null check (available >= 0),
        reserved integer not null default 0 check (reserved >= 0),
        version integer not null default 1,
        updated_at timestamptz not null default now()
      );
      create table inventory.reservations (
        id text not null,
        sku text not null references inventory.stock (sku),
        quantity integer not null check (quantity > 0),
        status text not null check (status in ('reserved', 'committed', 'released', 'returned')),
        created_at timestamptz not null default now(),
        primary key (id, sku)
      );`,
  },
];
