import type { Queryable } from '../../platform/db/database.ts';
import type { StockLevel, StockLine } from './contract.ts';

interface StockRow {
  sku: string;
  available: number;
  reserved: number;
  version: number;
  updated_at: Date | string;
}

const toLevel = (row: StockRow): StockLevel => ({
  sku: row.sku,
  available: row.available,
  reserved: row.reserved,
  version: row.version,
  updatedAt: new Date(row.updated_at).toISOString(),
});

export type ReservationStatus = 'reserved' | 'committed' | 'released' | 'returned';

/** The legal moves of a reservation and what each does to the stock row. */
export const SETTLEMENTS = {
  commit: { from: 'reserved', to: 'committed', stock: 'reserved = s.reserved - r.quantity' },
  release: { from: 'reserved', to: 'released', stock: 'available = s.available + r.quantity, reserved = s.reserved - r.quantity' },
  return: { from: 'committed', to: 'returned', stock: 'available = s.available + r.quantity' },
} as const satisfies Record<string, { from: ReservationStatus; to: ReservationStatus; stock: string }>;

export type Settlement = keyof typeof SETTLEMENTS;

export function createInventoryRepository(db: Queryable) {
  return {
    async find(skus: readonly string[]): Promise<StockLevel[]> {
      const { rows } = await db.query<StockRow>('select * from inventory.stock where sku = any($1::text[])', [skus]);
      return rows.map(toLevel);
    },
    /** Inserts a SKU's first stock; null when the SKU has stock already (left as it is). */
    async insertIfAbsent(sku: string, available: number): Promise<StockLevel | null> {
      const { rows } = await db.query<StockRow>(
        'insert into inventory.stock (sku, available) values ($1, $2) on conflict (sku) do nothing returning *',
        [sku, available],
      );
      return rows[0] ? toLevel(rows[0]) : null;
    },
    async upsert(sku: string, available: number): Promise<StockLevel> {
      const { rows } = await db.query<StockRow>(
        `insert into inventory.stock (sku, available) values ($1, $2)
         on conflict (sku) do update set available = excluded.available, version = stock.version + 1, updated_at = now()
         returning *`,
        [sku, available],
      );
      return toLevel(rows[0]!);
    },
    async upsertMany(levels: readonly { sku: string; available: number }[]): Promise<void> {
      await db.query(
        `insert into inventory.stock (sku, available)
         select * from unnest($1::text[], $2::int[])
         on conflict (sku) do update set available = excluded.available, version = stock.version + 1, updated_at = now()`,
        [levels.map((l) => l.sku), levels.map((l) => l.available)],
      );
    },
    /** Takes `quantity` units if that many are available; the row lock makes it atomic. */
    async take(line: StockLine): Promise<'taken' | 'short' | 'unknown'> {
      const { rowCount } = await db.query(
        `update inventory.stock set available = available - $2, reserved = reserved + $2, version = version + 1, updated_at = now()
         where sku = $1 and available >= $2`,
        [line.sku, line.quantity],
      );
      if (rowCount === 1) return 'taken';
      const { rows } = await db.query('select 1 from inventory.stock where sku = $1', [line.sku]);
      return rows.length > 0 ? 'short' : 'unknown';
    },
    async reservationLines(reservationId: string, lock: boolean): Promise<{ sku: string; quantity: number; status: ReservationStatus }[]> {
      const { rows } = await db.query<{ sku: string; quantity: number; status: ReservationStatus }>(
        `select sku, quantity, status from inventory.reservations where id = $1 order by sku${lock ? ' for update' : ''}`,
        [reservationId],
      );
      return rows;
    },
    async recordReservation(reservationId: string, lines: readonly StockLine[]): Promise<void> {
      await db.query(
        `insert into inventory.reservations (id, sku, quantity, status)
         select $1, * , 'reserved' from unnest($2::text[], $3::int[])`,
        [reservationId, lines.map((l) => l.sku), lines.map((l) => l.quantity)],
      );
    },
    /** Gives back the units a reservation holds here and forgets it, as if it had never been taken. */
    async undoReservation(reservationId: string): Promise<void> {
      await db.query(
        `update inventory.stock s set available = s.available + r.quantity, reserved = s.reserved - r.quantity, version = s.version + 1, updated_at = now()
         from inventory.reservations r where r.id = $1 and r.sku = s.sku and r.status = 'reserved'`,
        [reservationId],
      );
      await db.query('delete from inventory.reservations where id = $1', [reservationId]);
    },
    /** Moves a reservation along one of SETTLEMENTS and applies that move's stock change. */
    async settle(reservationId: string, move: Settlement): Promise<void> {
      const { from, to, stock } = SETTLEMENTS[move];
      await db.query(
        `update inventory.stock s set ${stock}, version = s.version + 1, updated_at = now()
         from inventory.reservations r where r.id = $1 and r.sku = s.sku and r.status = $2`,
        [reservationId, from],
      );
      await db.query('update inventory.reservations set status = $3 where id = $1 and status = $2', [reservationId, from, to]);
    },
  };
}
