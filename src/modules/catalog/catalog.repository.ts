import type { Queryable } from '../../platform/db/database.ts';
import type { NewProduct, Product, ProductChanges } from './contract.ts';

interface ProductRow {
  id: string;
  sku: string;
  name: string;
  description: string;
  category: string;
  price: number;
  currency: string;
  version: number;
  created_at: Date | string;
  updated_at: Date | string;
}

const COLUMNS = 'id, sku, name, description, category, price, currency, version, created_at, updated_at';

const toProduct = (row: ProductRow): Product => ({
  id: row.id,
  sku: row.sku,
  name: row.name,
  description: row.description,
  category: row.category,
  price: row.price,
  currency: row.currency,
  version: row.version,
  createdAt: new Date(row.created_at).toISOString(),
  updatedAt: new Date(row.updated_at).toISOString(),
});

export function createCatalogRepository(db: Queryable) {
  return {
    async findById(id: string, lock = false): Promise<Product | null> {
      const { rows } = await db.query<ProductRow>(`select ${COLUMNS} from catalog.products where id = $1${lock ? ' for update' : ''}`, [id]);
      return rows[0] ? toProduct(rows[0]) : null;
    },
    async findByIds(ids: readonly string[]): Promise<Product[]> {
      const { rows } = await db.query<ProductRow>(`select ${COLUMNS} from catalog.products where id = any($1::text[])`, [ids]);
      return rows.map(toProduct);
    },
    /** Keyset pagination on id (time-ordered UUIDv7), so deep pages cost what the first one does. */
    async list(filter: { category?: string; q?: string; afterId?: string; limit: number }): Promise<Product[]> {
      const { rows } = await db.query<ProductRow>(
        `select ${COLUMNS} from catalog.products
         where ($1::text is null or category = $1)
           and ($2::text is null or search @@ websearch_to_tsquery('english', $2))
           and ($3::text is null or id > $3)
         order by id limit $4`,
        [filter.category ?? null, filter.q ?? null, filter.afterId ?? null, filter.limit],
      );
      return rows.map(toProduct);
    },
    async insert(product: NewProduct & { id: string }): Promise<Product> {
      const { rows } = await db.query<ProductRow>(
        `insert into catalog.products (id, sku, name, description, category, price, currency)
         values ($1, $2, $3, $4, $5, $6, $7) returning ${COLUMNS}`,
        [product.id, product.sku, product.name, product.description ?? '', product.category, product.price, product.currency ?? 'USD'],
      );
      return toProduct(rows[0]!);
    },
    async insertMany(products: readonly (NewProduct & { id: string })[]): Promise<void> {
      const column = <K extends keyof NewProduct | 'id'>(key: K, fallback?: unknown) => products.map((p) => p[key] ?? fallback);
      await db.query(
        `insert into catalog.products (id, sku, name, description, category, price, currency)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[])
         on conflict do nothing`,
        [column('id'), column('sku'), column('name'), column('description', ''), column('category'), column('price'), column('currency', 'USD')],
      );
    },
    async update(id: string, changes: ProductChanges): Promise<Product | null> {
      const { rows } = await db.query<ProductRow>(
        `update catalog.products set
           name = coalesce($2, name), description = coalesce($3, description), category = coalesce($4, category),
           price = coalesce($5, price), currency = coalesce($6, currency), version = version + 1, updated_at = now()
         where id = $1 returning ${COLUMNS}`,
        [id, changes.name ?? null, changes.description ?? null, changes.category ?? null, changes.price ?? null, changes.currency ?? null],
      );
      return rows[0] ? toProduct(rows[0]) : null;
    },
    async findIdBySku(sku: string): Promise<string | null> {
      const { rows } = await db.query<{ id: string }>('select id from catalog.products where sku = $1', [sku]);
      return rows[0]?.id ?? null;
    },
    async count(): Promise<number> {
      const { rows } = await db.query<{ n: number }>('select count(*)::int as n from catalog.products');
      return rows[0]!.n;
    },
  };
}
