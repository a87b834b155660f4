import pg from 'pg';

/** The PostgreSQL server scenarios make their scratch databases on (the machine's, unless set). */
export const LAB_POSTGRES_URL = process.env.LAB_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs one administrative statement (create or drop a database) on its own connection, on the lab's server or `server`. */
export async function adminQuery(sql: string, server = LAB_POSTGRES_URL): Promise<void> {
  const client = new pg.Client({ connectionString: server });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The URL of database `name` on the lab's server, or on `server`. */
export function labDatabaseUrl(name: string, server = LAB_POSTGRES_URL): string {
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}
