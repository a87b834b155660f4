import pg from 'pg';

/** The PostgreSQL server scenarios make their scratch databases on (the machine's, unless set). */
export const LAB_POSTGRES_URL = process.env.LAB_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs one administrative statement (create or drop a database) on its own connection. */
export async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: LAB_POSTGRES_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The URL of database `name` on the lab's server. */
export function labDatabaseUrl(name: string): string {
  const url = new URL(LAB_POSTGRES_URL);
  url.pathname = `/${name}`;
  return url.toString();
}
