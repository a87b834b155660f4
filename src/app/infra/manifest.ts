import { readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { StartedEdge } from './edge.ts';
import type { StartedService } from './services.ts';
import type { PgRole } from './topology.ts';

/** `<dir>/manifest.json`: what this infra directory holds, for people and for later commands. */
export interface InfraManifest {
  version: 1;
  basePort: number;
  servers: { name: string; role: PgRole; port: number; dataDir: string; url: string }[];
  services: { redis: { port: number }; nats: { port: number } };
  /** The nginx edge, when `up --edge` asked for one; later `up`s keep it with these settings. */
  edge?: EdgeSettings | undefined;
  /** Services this directory's `up` started; `down` stops exactly these. */
  started: (StartedService | StartedEdge)[];
  updatedAt: string;
}

/** What `infra up --edge` was asked for. */
export interface EdgeSettings {
  port: number;
  upstreams: string[];
  cache: boolean;
}

export function manifestPath(dir: string): string {
  return join(dir, 'manifest.json');
}

export async function readManifest(dir: string): Promise<InfraManifest | undefined> {
  try {
    return JSON.parse(await readFile(manifestPath(dir), 'utf8')) as InfraManifest;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Writes through a temporary file so an interrupted write never leaves half a manifest. */
export async function writeManifest(dir: string, manifest: InfraManifest): Promise<void> {
  const tmp = `${manifestPath(dir)}.tmp`;
  await writeFile(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(tmp, manifestPath(dir));
}
