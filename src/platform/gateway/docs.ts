import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Logger } from 'pino';
import { problem } from '../http/problem.ts';
import { mergeDocuments, type OpenApiDocument } from './docs-merge.ts';
import { sendProblem, type Exchange, type ForwardOptions, type ForwardTarget } from './forward.ts';
import { getThroughPool } from './upstream-call.ts';

/** How long a merged document is served before the next request rebuilds it. */
export const DOCS_TTL_MS = 30_000;

/** One pool's document, fetched on each rebuild. */
export interface DocumentSource {
  pool: string;
  fetch(signal: AbortSignal): Promise<unknown>;
}

export interface GatewayDocsOptions {
  /** The pools some route sends to, in the routes file's order (the first gives `info`). */
  sources: DocumentSource[];
  /** The pool the gateway's routes send `path` to (longest prefix), or undefined: only those paths are kept. */
  owner(path: string): string | undefined;
  /** Deadline of one rebuild, every pool's fetch included. */
  timeoutMs: number;
  logger: Logger;
  /** Default DOCS_TTL_MS. */
  ttlMs?: number;
  now?: () => number;
}

export interface GatewayDocs {
  /** Whether `path` is one of the docs' own: `/docs`, `/docs/json` and the page's static files. */
  serves(path: string): boolean;
  /** Answers a GET or HEAD of a path `serves` accepted. */
  serve(exchange: Exchange): Promise<void>;
  /** The merged document's JSON: the cached one, a rebuilt one, the last good one, or undefined if none was ever built. */
  document(): Promise<string | undefined>;
}

/** The stable code of a `/docs/json` that cannot be built and never was (API.md). */
export const DOCS_UNAVAILABLE = 'DOCS_UNAVAILABLE';

const SERVER = { url: '/', description: 'The Scalemart gateway: every path is served by the origin of this document' };

/** Swagger UI's files as @fastify/swagger-ui ships them (copied from swagger-ui-dist); nothing else is read. */
const ASSETS: ReadonlyMap<string, string> = new Map([
  ['swagger-ui.css', 'text/css; charset=utf-8'],
  ['index.css', 'text/css; charset=utf-8'],
  ['swagger-ui-bundle.js', 'text/javascript; charset=utf-8'],
  ['swagger-ui-standalone-preset.js', 'text/javascript; charset=utf-8'],
  ['favicon-32x32.png', 'image/png'],
  ['favicon-16x16.png', 'image/png'],
]);
const STATIC = '/docs/static/';

const PAGE = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>Scalemart API</title>
<link rel="stylesheet" type="text/css" href="${STATIC}swagger-ui.css">
<link rel="stylesheet" type="text/css" href="${STATIC}index.css">
<link rel="icon" type="image/png" href="${STATIC}favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="${STATIC}favicon-16x16.png" sizes="16x16">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${STATIC}swagger-ui-bundle.js" charset="UTF-8"></script>
<script src="${STATIC}swagger-ui-standalone-preset.js" charset="UTF-8"></script>
<script src="${STATIC}swagger-initializer.js" charset="UTF-8"></script>
</body>
</html>
`;

// A file rather than an inline script, so a Content-Security-Policy in front can stay `script-src 'self'`.
const INITIALIZER = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: '/docs/json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: 'StandaloneLayout',
    validatorUrl: null,
  });
};
`;

const PAGES: ReadonlyMap<string, { type: string; body: string }> = new Map([
  ['/docs', { type: 'text/html; charset=utf-8', body: PAGE }],
  [`${STATIC}swagger-initializer.js`, { type: 'text/javascript; charset=utf-8', body: INITIALIZER }],
]);

/** Static files may be cached by browsers for an hour: they change only with the package. */
const ASSET_CACHE = 'public, max-age=3600';

/** A source that GETs the pool's `/docs/json` through its balancing, health checks and retries. */
export function poolDocumentSource(pool: string, target: ForwardTarget, forward: ForwardOptions): DocumentSource {
  return {
    pool,
    async fetch(signal) {
      const headers = { accept: 'application/json', 'x-request-id': randomUUID() };
      const answer = await getThroughPool(target, { path: '/docs/json', headers, signal }, forward);
      if (answer.status !== 200) throw new Error(`pool ${pool}: /docs/json answered ${answer.status}`);
      return JSON.parse(Buffer.from(answer.body).toString('utf8')) as unknown;
    },
  };
}

function asDocument(value: unknown, pool: string): OpenApiDocument {
  const d = value as Partial<OpenApiDocument> | null;
  if (typeof d?.openapi !== 'string' || typeof d.info !== 'object' || typeof d.paths !== 'object' || d.paths === null) {
    throw new Error(`pool ${pool}: /docs/json is not an OpenAPI 3 document`);
  }
  return d as OpenApiDocument;
}

function send(exchange: Exchange, status: number, type: string, cacheControl: string, body: string | Buffer): void {
  const res = exchange.res;
  if (res.destroyed) return; // the client left
  exchange.extra.push('content-type', type, 'content-length', String(Buffer.byteLength(body)), 'cache-control', cacheControl, 'x-content-type-options', 'nosniff');
  res.writeHead(status, exchange.extra);
  // node:http sends no body for HEAD.
  res.end(body);
}

/**
 * The gateway's public API document and its Swagger UI page. `/docs/json` merges the documents
 * of the pools the routes send to (docs-merge.ts), each fetched through its pool, keeping only the
 * paths the routes send to that pool. The merged document is kept `ttlMs`; the first request
 * after that rebuilds it (one rebuild at a time, concurrent requests wait for it). A rebuild that
 * fails (a pool that cannot answer, a document that cannot be merged) is logged and the last good
 * document is served for another `ttlMs`; with none, `503 DOCS_UNAVAILABLE`. `/docs` is Swagger
 * UI over `/docs/json`, from a fixed list of files.
 */
export function createGatewayDocs(options: GatewayDocsOptions): GatewayDocs {
  const { sources, owner, logger, timeoutMs } = options;
  const ttlMs = options.ttlMs ?? DOCS_TTL_MS;
  const now = options.now ?? (() => performance.now());
  const assetDir = path.join(path.dirname(createRequire(import.meta.url).resolve('@fastify/swagger-ui')), 'static');
  const assets = new Map<string, Promise<Buffer>>();
  let good: string | undefined;
  let attemptedAt = -Infinity;
  let building: Promise<void> | undefined;

  async function build(): Promise<void> {
    const failed = new AbortController();
    const signal = AbortSignal.any([failed.signal, AbortSignal.timeout(timeoutMs)]);
    try {
      const parts = await Promise.all(sources.map(async ({ pool, fetch }) => {
        const document = asDocument(await fetch(signal), pool);
        return { pool, document, keeps: (p: string) => owner(p) === pool };
      })).finally(() => failed.abort(new Error('another pool failed')));
      const { document, renamed } = mergeDocuments(parts, SERVER);
      if (renamed.length > 0) logger.warn({ renamed }, 'gateway docs: pools define some names differently; renamed to keep them apart');
      good = JSON.stringify(document);
    } catch (error) {
      logger.warn({ err: error }, good ? 'gateway docs: rebuild failed; serving the last good document' : 'gateway docs: cannot build the document');
    } finally {
      attemptedAt = now();
    }
  }

  async function document(): Promise<string | undefined> {
    if (good === undefined || now() - attemptedAt >= ttlMs) {
      building ??= build().finally(() => (building = undefined));
      await building;
    }
    return good;
  }

  function asset(name: string): Promise<Buffer> {
    let file = assets.get(name);
    if (!file) {
      file = readFile(path.join(assetDir, name));
      // A failed read is not kept: the next request tries again.
      file.catch(() => assets.delete(name));
      assets.set(name, file);
    }
    return file;
  }

  return {
    serves: (p) => p === '/docs/json' || PAGES.has(p) || (p.startsWith(STATIC) && ASSETS.has(p.slice(STATIC.length))),
    async serve(exchange) {
      const url = exchange.req.url ?? '/';
      const q = url.indexOf('?');
      const p = q < 0 ? url : url.slice(0, q);
      if (p === '/docs/json') {
        const body = await document();
        if (body === undefined) {
          return sendProblem(exchange, problem(503, DOCS_UNAVAILABLE, 'The API document cannot be assembled now: a service behind the gateway did not give its part. Try again shortly.'));
        }
        return send(exchange, 200, 'application/json; charset=utf-8', 'no-cache', body);
      }
      const page = PAGES.get(p);
      if (page) return send(exchange, 200, page.type, 'no-cache', page.body);
      const name = p.slice(STATIC.length);
      send(exchange, 200, ASSETS.get(name)!, ASSET_CACHE, await asset(name));
    },
    document,
  };
}
