import type { Migration } from '../../platform/db/migrations.ts';

export const catalogMigrations: Migration[] = [
  {
    id: '001-products',
    sql: `
      create schema if not exists catalog;
      create table catalog.products (
        id text primary key,
        sku text not null unique,
        name text not null,
        description text not null default '',
        category text not null,
        price integer not null check (price >= 0),
        currency char(3) not null default 'USD',
        version integer not null default 1,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        search tsvector generated always as (
          setweight(to_tsvector('english', name), 'A') ||
          setweight(to_tsvector('english', category), 'B') ||
          setweight(to_tsvector('english', description), 'C')
        ) stored
      );
      create index products_category_id on catalog.products (category, id);
      create index products_search on catalog.products using gin (search);`,
  },
  {
    id: '002-view-counts',
    sql: `
      -- Write-behind: each view lands here (durable, deduplicated by the client's view id) and a
      -- flusher folds batches into product_views. Flushed rows stay a while so a retried view
      -- that already counted is still recognised.
      create table catalog.view_buffer (
        view_id text primary key,
        product_id text not null,
        viewed_at timestamptz not null default now(),
        flushed_at timestamptz
      );
      create index view_buffer_pending on catalog.view_buffer (viewed_at) where flushed_at is null;
      create table catalog.product_views (
        product_id text primary key,
        views bigint not null default 0,
        updated_at timestamptz not null default now()
      );`,
  },
  {
    id: '003-popularity',
    sql: `
      -- The popularity ranking reads the counters in order.
      create index product_views_ranking on catalog.product_views (views desc, product_id);`,
  },
];
