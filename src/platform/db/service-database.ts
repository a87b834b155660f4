import pg from 'pg';

/**
 * The database a service keeps its modules' tables in under `DATABASE_PER_SERVICE`: the configured
 * URL's database with `_<module>` for each module the service runs (`scalemart` →
 * `scalemart_inventory_catalog`), on the same server. Every instance of a service runs the same
 * modules, so they agree on it; a process running other modules never sees these tables.
 */
export function serviceDatabaseUrl(url: string, modules: readonly string[]): string {
  const parsed = new URL(url);
  const base = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'postgres';
  parsed.pathname = `/${[base, ...modules].join('_')}`;
  return parsed.toString();
}

// PostgreSQL's error codes for a database that exists, and for two creators racing on pg_database.
const DUPLICATE_DATABASE = '42P04';
const UNIQUE_VIOLATION = '23505';

/**
 * Creates the database `url` names when its server has none, connecting to the server's
 * `postgres` maintenance database as the same user. Instances of one service start together, so
 * two may create it at once: the loser's error is the answer "it exists". True when this call
 * created it.
 */
export async function ensureDatabase(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  const client = new pg.Client({ connectionString: maintenance.toString(), connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount) return false;
    // An identifier cannot be a bound parameter: quote it, doubling any quote inside.
    await client.query(`create database "${name.replaceAll('"', '""')}"`);
    return true;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === DUPLICATE_DATABASE || code === UNIQUE_VIOLATION) return false;
    throw error;
  } finally {
    await client.end();
  }
}
