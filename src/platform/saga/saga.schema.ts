import type { Migration } from '../db/migrations.ts';

export const sagaMigrations: Migration[] = [
  {
    id: '001-instances-and-history',
    sql: `
      create schema if not exists saga;
      create table saga.instances (
        id text primary key,
        type text not null,
        status text not null check (status in ('running', 'compensating', 'completed', 'failed', 'cancelled')),
        -- running: index of the next step to run; compensating: index of the next step to undo.
        step integer not null default 0,
        data jsonb not null,
        reason text,
        cancel_requested boolean not null default false,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
      );
      create index instances_unfinished on saga.instances (status) where status in ('running', 'compensating');
      create table saga.history (
        saga_id text not null,
        seq bigserial,
        step text not null,
        phase text not null,
        outcome text not null,
        at timestamptz not null default now(),
        primary key (saga_id, seq)
      );`,
  },
  {
    id: '002-leases',
    sql: `
      -- One process at a time works an unfinished saga: the one holding its lease. Expiry is set
      -- from the database clock, so the processes' clocks never have to agree.
      alter table saga.instances add column lease_owner text, add column lease_expires_at timestamptz;
      -- Due work: unfinished sagas whose lease is absent or lapsed. Replaces the status-only index.
      create index instances_due on saga.instances (lease_expires_at nulls first, created_at) where status in ('running', 'compensating');
      drop index saga.instances_unfinished;`,
  },
];
