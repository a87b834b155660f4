import { accessSync, constants, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The PostgreSQL programs `infra` drives. */
export interface PgBinaries {
  initdb: string;
  pgCtl: string;
  pgBasebackup: string;
}

export interface FindBinariesOptions {
  /** Search path; defaults to the caller's PATH. */
  path?: string | undefined;
  /** Where distribution packages install versioned binaries. */
  versionedRoot?: string | undefined;
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `/usr/lib/postgresql/<version>/bin` directories, highest version first. */
function versionedDirs(root: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return [];
  }
  return entries
    .filter((name) => /^\d+(\.\d+)?$/.test(name))
    .sort((a, b) => Number(b) - Number(a))
    .map((version) => join(root, version, 'bin'));
}

/**
 * Finds one program: on PATH first (what the operator chose), then in the highest
 * installed `/usr/lib/postgresql/<version>/bin`, which Debian-style packages keep off PATH.
 */
export function findBinary(name: string, options: FindBinariesOptions = {}): string | undefined {
  const pathDirs = (options.path ?? process.env.PATH ?? '').split(delimiter).filter(Boolean);
  const dirs = [...pathDirs, ...versionedDirs(options.versionedRoot ?? '/usr/lib/postgresql')];
  return dirs.map((dir) => join(dir, name)).find(executable);
}

/** Finds every PostgreSQL program `infra` needs, or throws naming the missing ones. */
export function findPgBinaries(options: FindBinariesOptions = {}): PgBinaries {
  const wanted = { initdb: 'initdb', pgCtl: 'pg_ctl', pgBasebackup: 'pg_basebackup' } as const;
  const found: Partial<Record<keyof PgBinaries, string>> = {};
  const missing: string[] = [];
  for (const [key, name] of Object.entries(wanted) as [keyof PgBinaries, string][]) {
    const file = findBinary(name, options);
    if (file) found[key] = file;
    else missing.push(name);
  }
  if (missing.length > 0) {
    throw new Error(`PostgreSQL programs not found on PATH or in /usr/lib/postgresql/*/bin: ${missing.join(', ')}`);
  }
  return found as PgBinaries;
}
