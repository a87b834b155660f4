import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInfra } from '../../src/app/infra/infra.ts';
import { startTestInfra, type TestInfra } from '../support/infra.ts';
import { freePort } from '../support/process.ts';

// Its own base port, clear of the helper's default that other real-infrastructure suites use.
const BASE_PORT = 26632;
const PG_SERVERS = 7;

/** Polls until `check` returns a value; a generous bound, not a timing assertion. */
async function eventually<T>(check: () => Promise<T | undefined>, boundMs = 30_000): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${boundMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

describe('scalemart infra (real PostgreSQL, Redis, NATS)', () => {
  let env: TestInfra | undefined;

  beforeAll(async () => {
    env = await startTestInfra({ basePort: BASE_PORT });
  }, 120_000);

  const closeAfter: Server[] = [];
  afterAll(async () => {
    await env?.stop();
    for (const server of closeAfter) server.close();
  }, 120_000);

  it('brings up seven PostgreSQL servers with both replicas streaming from main', async () => {
    const lines = await eventually(async () => {
      const status = await env!.infra.status();
      const streaming = status.filter((s) => s.role === 'replica' && s.replication === 'streaming');
      return streaming.length === 2 ? status : undefined;
    });
    const pgLines = lines.filter((s) => ['primary', 'replica', 'shard'].includes(s.role));
    expect(pgLines).toHaveLength(PG_SERVERS);
    expect(pgLines.every((s) => s.health === 'up')).toBe(true);
    expect(pgLines.map((s) => [s.name, s.role, s.port])).toEqual([
      ['main', 'primary', BASE_PORT],
      ['replica-1', 'replica', BASE_PORT + 1],
      ['replica-2', 'replica', BASE_PORT + 2],
      ['shard-0', 'shard', BASE_PORT + 10],
      ['shard-1', 'shard', BASE_PORT + 11],
      ['shard-2', 'shard', BASE_PORT + 12],
      ['shard-3', 'shard', BASE_PORT + 13],
    ]);
    expect(lines.find((s) => s.name === 'redis')?.health).toBe('up');
    expect(lines.find((s) => s.name === 'nats')?.health).toBe('up');
    // The application database exists on main and on every shard.
    for (const url of [env!.main, ...env!.shards]) {
      expect(await query<{ db: string }>(url, 'select current_database() as db')).toEqual([{ db: 'scalemart' }]);
    }
  });

  it('replicates a row written on main to both replicas, which refuse writes', async () => {
    const token = `row-${process.pid}-${Math.random().toString(36).slice(2)}`;
    await query(env!.main, 'create table if not exists infra_probe (token text primary key)');
    await query(env!.main, 'insert into infra_probe (token) values ($1)', [token]);
    for (const replica of env!.replicas) {
      const rows = await eventually(async () => {
        const found = await query<{ token: string }>(replica, 'select token from infra_probe where token = $1', [token]);
        return found.length === 1 ? found : undefined;
      });
      expect(rows).toEqual([{ token }]);
      await expect(query(replica, 'insert into infra_probe (token) values ($1)', ['nope'])).rejects.toThrow(/read-only/);
    }
  });

  it('up --edge starts nginx in front of the given gateways, reloads it for the cache switch, and keeps it on later ups', async () => {
    const hits: string[] = [];
    const upstreams = await Promise.all(['a', 'b'].map(async (name) => {
      const server = createServer((req, res) => {
        hits.push(name);
        res.setHeader('cache-control', 'public, max-age=60');
        res.setHeader('x-upstream', name);
        res.end(name);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return server;
    }));
    closeAfter.push(...upstreams);
    const urls = upstreams.map((s) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`);
    const port = await freePort();
    const withEdge = (cache: boolean) => createInfra({ dir: env!.dir, basePort: BASE_PORT, edge: { port, upstreams: urls, cache } });

    const first = await withEdge(false).up();
    expect(first.actions).toEqual(['edge: started']);
    expect(first.urls.edge).toBe(`http://127.0.0.1:${port}`);
    const answers = new Set<string>();
    for (let i = 0; i < 10; i++) answers.add(await (await fetch(`${first.urls.edge}/x?i=${i}`)).text());
    expect([...answers].sort()).toEqual(['a', 'b']);

    expect((await withEdge(true).up()).actions).toEqual(['edge: reloaded']);
    // Old workers finish their connections after a reload (a kept-alive connection to one can be
    // reset as it exits: seen in CI); poll until the new config answers.
    const statuses: (string | null)[] = [];
    for (const until = Date.now() + 10_000; !statuses.includes('HIT') && Date.now() < until; ) {
      statuses.push(await fetch(`${first.urls.edge}/cached`).then((r) => r.headers.get('x-cache-status'), () => 'reset'));
    }
    expect(statuses).toContain('HIT');

    const status = await env!.infra.status();
    expect(status.find((s) => s.name === 'edge')).toMatchObject({ role: 'edge', port, health: 'up', managed: true });
  });

  it('does nothing on a second up', async () => {
    const { actions } = await env!.infra.up();
    expect(actions).toEqual([]);
  });

  it('down stops every server it runs and keeps the data; status then shows them down', async () => {
    const actions = await env!.infra.down();
    expect(actions.filter((a) => a.endsWith(': stopped') && !/^(redis|nats|edge):/.test(a))).toHaveLength(PG_SERVERS);
    // The edge an earlier test started through this directory, stopped by the pid nginx wrote.
    expect(actions).toContain('edge: stopped');
    const status = await env!.infra.status();
    expect(status.filter((s) => s.health === 'down').map((s) => s.name)).toEqual(
      expect.arrayContaining(['main', 'replica-1', 'replica-2', 'shard-0', 'shard-1', 'shard-2', 'shard-3']),
    );
    expect(existsSync(join(env!.dir, 'pg', 'main', 'PG_VERSION'))).toBe(true);
    expect(existsSync(join(env!.dir, 'manifest.json'))).toBe(true);
  });
});
