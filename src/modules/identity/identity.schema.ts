import type { Migration } from '../../platform/db/migrations.ts';

export const identityMigrations: Migration[] = [
  {
    id: '001-users-and-api-keys',
    sql: `
      create schema if not exists identity;
      create table identity.users (
        id text primary key,
        email text not null,
        password_hash text not null,
        name text not null,
        country char(2) not null,
        role text not null default 'customer' check (role in ('customer', 'admin')),
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
      );
      create unique index users_email_key on identity.users (lower(email));
      create table identity.api_keys (
        id text primary key,
        owner_id text not null references identity.users (id),
        name text not null,
        key_hash text not null unique,
        role text not null check (role in ('customer', 'admin')),
        created_at timestamptz not null default now(),
        revoked_at timestamptz
      );`,
  },
];
