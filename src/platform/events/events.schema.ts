import type { Migration } from '../db/migrations.ts';

/** Tables of the event platform: the outbox, the in-process log, consumer positions and leases, inbox, dead letters. */
export const eventMigrations: Migration[] = [
  {
    id: '001-outbox-log-consumers',
    sql: `
      create schema if not exists events;
      create table events.outbox (
        seq bigserial primary key,
        id text not null unique,
        type text not null,
        key text not null,
        payload jsonb not null,
        occurred_at timestamptz not null,
        published_at timestamptz
      );
      create index outbox_unpublished on events.outbox (seq) where published_at is null;
      create table events.log (
        seq bigserial primary key,
        id text not null unique,
        type text not null,
        key text not null,
        payload jsonb not null,
        occurred_at timestamptz not null,
        appended_at timestamptz not null default now()
      );
      create index log_type_seq on events.log (type, seq);
      create table events.consumers (
        name text primary key,
        position bigint not null default 0,
        updated_at timestamptz not null default now()
      );
      create table events.inbox (
        consumer text not null,
        event_id text not null,
        sequence bigint not null,
        processed_at timestamptz not null default now(),
        primary key (consumer, event_id)
      );
      create table events.dead_letters (
        id bigserial primary key,
        consumer text not null,
        event_id text not null,
        sequence bigint not null,
        type text not null,
        key text not null,
        payload jsonb not null,
        error text not null,
        attempts integer not null,
        failed_at timestamptz not null default now()
      );`,
  },
  {
    // The causing request and trace travel with each event; a group's position is delivered by
    // one subscriber at a time, the holder of its lease, so several processes can share a group.
    id: '002-log-context-consumer-lease',
    sql: `
      alter table events.log add column context jsonb;
      alter table events.consumers add column owner text, add column lease_until timestamptz;`,
  },
  {
    // What the relay publishes carries the causing request and trace too.
    id: '003-outbox-context',
    sql: 'alter table events.outbox add column context jsonb;',
  },
  {
    // The relay deletes what it has published; rows an earlier relay marked published go too.
    id: '004-outbox-drop-published',
    sql: 'delete from events.outbox where published_at is not null;',
  },
  {
    // Every row left is unpublished, so the relay reads in primary-key order without a filter, and
    // the partial index on seq has nothing left to do: one index less to write per appended event.
    // (published_at stays, always null: a relay of the release before, still running in a rolling
    // deploy, reads it.)
    id: '005-outbox-drop-unpublished-index',
    sql: 'drop index if exists events.outbox_unpublished;',
  },
];
