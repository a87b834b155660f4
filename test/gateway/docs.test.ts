import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startScalemartProcess, type Running } from '../support/process.ts';
import { INTERNAL_SECRET, JWT_SECRET, metric, startGatewayProcess, type RunningGateway } from './support.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const REDOCLY = path.join(ROOT, 'node_modules/@redocly/cli/bin/cli.js');

interface Operation { operationId?: string; tags?: string[]; security?: Array<Record<string, string[]>> }
interface Document {
  servers: Array<{ url: string; description: string }>;
  paths: Record<string, Record<string, Operation>>;
  components?: { securitySchemes?: Record<string, unknown> };
  tags?: Array<{ name: string }>;
}
interface LintReport { totals: { errors: number; warnings: number }; problems: { ruleId: string; message: string; location: { pointer: string }[] }[] }

/**
 * The gateway's `/docs/json` and `/docs` in front of two real Scalemart processes, one per pool:
 * the merged document has what the routes send to each pool and nothing else, and passes
 * Redocly's recommended rules as the monolith's does.
 */
describe('the API document at the gateway', () => {
  let dir: string;
  const upstreams: Running[] = [];
  let catalogUrl: string;
  let restUrl: string;
  let split: RunningGateway;
  let productsOnly: RunningGateway;
  let down: RunningGateway;
  let limited: RunningGateway;

  const routesFile = async (name: string, table: unknown) => {
    const file = path.join(dir, `${name}.json`);
    await writeFile(file, JSON.stringify(table));
    return file;
  };
  const documentOf = async (gateway: RunningGateway) => {
    const response = await fetch(`${gateway.origin}/docs/json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    return (await response.json()) as Document;
  };
  const lint = async (name: string, document: Document) => {
    const file = path.join(dir, `${name}.openapi.json`);
    await writeFile(file, JSON.stringify(document, null, 2));
    // `lint` exits 1 on errors; its JSON report is on stdout either way.
    const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };
    const { stdout } = await run(process.execPath, [REDOCLY, 'lint', '--format=json', file], { cwd: ROOT, env })
      .catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
    return JSON.parse(stdout) as LintReport;
  };
  const operations = (document: Document) => Object.values(document.paths).flatMap((item) => Object.values(item));

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'scalemart-gw-docs-'));
    const ports = [await freePort(), await freePort()];
    const started = await Promise.allSettled(ports.map((port, i) => startScalemartProcess({
      DATABASE_URL: 'memory://', SCALEMART_DATA_DIR: path.join(dir, `data-${i}`),
      JWT_SECRET, INTERNAL_SECRET, RATE_LIMIT_POINTS: '100000', LOG_LEVEL: 'warn',
    }, port)));
    for (const s of started) if (s.status === 'fulfilled') upstreams.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    [catalogUrl, restUrl] = ports.map((port) => `http://127.0.0.1:${port}`) as [string, string];

    const nobody = `http://127.0.0.1:${await freePort()}`;
    const env = { RATE_LIMIT_POINTS: '100000' };
    [split, productsOnly, down, limited] = await Promise.all([
      startGatewayProcess(['--routes', await routesFile('split', {
        pools: { catalog: { upstreams: [catalogUrl] }, rest: { upstreams: [restUrl] } },
        routes: [{ prefix: '/api/v1/products', pool: 'catalog' }, { prefix: '/api/v1', pool: 'rest' }],
      })], await freePort(), env),
      startGatewayProcess(['--routes', await routesFile('products', {
        pools: { catalog: { upstreams: [catalogUrl] } },
        routes: [{ prefix: '/api/v1/products', pool: 'catalog' }],
      })], await freePort(), env),
      startGatewayProcess(['--upstream', nobody], await freePort(), env),
      startGatewayProcess(['--upstream', catalogUrl], await freePort(), { RATE_LIMIT_POINTS: '3' }),
    ]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([split, productsOnly, down, limited].map((g) => g?.stop()));
    for (const u of upstreams) if (u.child.exitCode === null) u.child.kill('SIGTERM');
    await Promise.all(upstreams.map((u) => u.exited));
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('merges both pools\' paths, fetched through each pool, and nothing outside /api/v1', async () => {
    const document = await documentOf(split);
    const own = (await (await fetch(`${restUrl}/docs/json`)).json()) as Document;
    const paths = Object.keys(document.paths);
    // Every public path of a Scalemart process, since the two pools together serve them all.
    expect(paths.toSorted()).toEqual(Object.keys(own.paths).filter((p) => p.startsWith('/api/v1/')).toSorted());
    expect(paths).toEqual(expect.arrayContaining(['/api/v1/products', '/api/v1/products/{id}', '/api/v1/orders', '/api/v1/auth/login']));
    expect(paths.filter((p) => !p.startsWith('/api/v1/'))).toEqual([]);
    expect(paths.filter((p) => p.includes('internal'))).toEqual([]);
    expect(document.servers).toEqual([{ url: '/', description: expect.stringMatching(/gateway/) }]);

    // Each pool's document was fetched through that pool.
    const text = await (await fetch(`${split.origin}/metrics`)).text();
    for (const [pool, url] of [['catalog', catalogUrl], ['rest', restUrl]] as const) {
      expect(metric(text, 'scalemart_gateway_upstream_requests_total', `pool="${pool}",instance="${new URL(url).host}"`), pool).toBeGreaterThanOrEqual(1);
    }

    const ids = operations(document).map((o) => o.operationId);
    expect(ids.filter((id) => id === undefined)).toEqual([]);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    expect(Object.keys(document.components?.securitySchemes ?? {}).toSorted()).toEqual(['apiKey', 'bearer']);
  });

  it('passes Redocly\'s recommended rules with no error and no warning', async () => {
    const report = await lint('split', await documentOf(split));
    expect(report.problems.map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`)).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  }, 60_000);

  it('has only the product paths, and their tags, when the routes send only /api/v1/products', async () => {
    const document = await documentOf(productsOnly);
    const paths = Object.keys(document.paths);
    expect(paths).toEqual(expect.arrayContaining(['/api/v1/products', '/api/v1/products/{id}', '/api/v1/products/popular']));
    expect(paths.filter((p) => p !== '/api/v1/products' && !p.startsWith('/api/v1/products/'))).toEqual([]);
    const used = new Set(operations(document).flatMap((o) => o.tags ?? []));
    expect((document.tags ?? []).map((t) => t.name).toSorted()).toEqual([...used].toSorted());
    expect(used.has('orders')).toBe(false);
    const report = await lint('products', document);
    expect(report.problems.map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`)).toEqual([]);
  }, 60_000);

  it('serves Swagger UI at /docs from a fixed list of files, and nothing else under /docs', async () => {
    const page = await fetch(`${split.origin}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    const files = [...html.matchAll(/(?:href|src)="([^"]+)"/g)].map((m) => m[1]!);
    expect(files).toContain('/docs/static/swagger-ui-bundle.js');
    for (const file of files) {
      const response = await fetch(`${split.origin}${file}`);
      expect(response.status, file).toBe(200);
      expect(Number(response.headers.get('content-length')), file).toBeGreaterThan(0);
      expect(response.headers.get('content-type'), file).toMatch(file.endsWith('.js') ? /^text\/javascript/ : file.endsWith('.css') ? /^text\/css/ : /^image\/png$/);
    }
    expect(await (await fetch(`${split.origin}/docs/static/swagger-initializer.js`)).text()).toContain(`url: '/docs/json'`);
    // Files of the same folder that are not on the list, a climb out of it, and other methods.
    for (const p of ['/docs/static/oauth2-redirect.js', '/docs/static/index.html', '/docs/static/%2e%2e/package.json', '/docs/static/..%2f..%2fpackage.json', '/docs/yaml', '/docs/']) {
      const response = await fetch(`${split.origin}${p}`);
      expect(response.status, p).toBe(404);
      expect(await response.json()).toMatchObject({ code: 'NOT_FOUND' });
    }
    expect((await fetch(`${split.origin}/docs/json`, { method: 'POST' })).status).toBe(404);
  });

  it('answers 503 DOCS_UNAVAILABLE when a pool cannot give its document and none was built before', async () => {
    const response = await fetch(`${down.origin}/docs/json`);
    expect(response.status).toBe(503);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await response.json()).toMatchObject({ status: 503, code: 'DOCS_UNAVAILABLE' });
    // The page itself does not need the pools.
    expect((await fetch(`${down.origin}/docs`)).status).toBe(200);
  });

  it('counts /docs requests in a rate limit of their own, apart from the API\'s', async () => {
    for (let i = 0; i < 3; i++) expect((await fetch(`${limited.origin}/docs`)).status).toBe(200);
    const refused = await fetch(`${limited.origin}/docs/json`);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ code: 'RATE_LIMITED' });
    expect((await fetch(`${limited.origin}/api/v1/products`)).status).toBe(200);
  });
});
