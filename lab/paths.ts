import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the lab lives, so it works whatever directory it is started from. */
export const LAB_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.dirname(LAB_DIR);
export const RESULTS_DIR = path.join(LAB_DIR, 'results');
/** The pinned Node, so the lab measures what `npm start` runs, not the machine's Node. */
export const NODE = path.join(REPO_ROOT, 'node_modules', '.bin', 'node');
/** Scalemart's CLI, relative to REPO_ROOT as the brief's commands spell it. */
export const SCALEMART_CLI = 'src/app/cli.ts';
