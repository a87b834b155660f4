import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestInfra, type TestInfra } from '../support/infra.ts';
import { freePort, startScalemartProcess, type Running } from '../support/process.ts';
import { INTERNAL_SECRET, JWT_SECRET, metric, sleep, startGatewayProcess, type RunningGateway } from './support.ts';

const HEADER = 'x-scalemart-write-position';

/** Sets how late a replica applies the WAL. */
async function delayReplay(url: string, delay: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`alter system set recovery_min_apply_delay = '${delay}'`);
    await client.query('select pg_reload_conf()');
  } finally {
    await client.end();
  }
}

/** Until every replica has replayed `position` (an LSN as the header carries it). */
async function replayed(urls: string[], position: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (const url of urls) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      for (;;) {
        const { rows } = await client.query<{ done: boolean }>('select pg_last_wal_replay_lsn() >= $1::pg_lsn as done', [position]);
        if (rows[0]!.done) break;
        if (Date.now() > deadline) throw new Error(`${url} did not replay ${position}`);
        await sleep(100);
      }
    } finally {
      await client.end();
    }
  }
}

/**
 * Two real Scalemart processes on one PostgreSQL primary whose two streaming replicas apply the
 * WAL 5 s late, behind a real round-robin gateway: a client's write lands on one instance and its
 * next read on the other, which never saw the write. Only the write position the client carries
 * (`X-Scalemart-Write-Position`, passed by the gateway both ways) keeps that read off a stale replica.
 */
describe('read-your-writes through the gateway', () => {
  let infra: TestInfra;
  const upstreams: Array<{ port: number; running: Running }> = [];
  let gateway: RunningGateway;
  let token: string;

  beforeAll(async () => {
    // Ports 26100-26113 (PostgreSQL main, replicas, shards), 26120 (Redis), 26121 (NATS).
    infra = await startTestInfra({ basePort: 26100, redisPort: 26120, natsPort: 26121 });
    for (const url of infra.replicas) await delayReplay(url, '5s');
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      upstreams.push({
        port,
        running: await startScalemartProcess({
          DATABASE_URL: infra.main, DATABASE_REPLICA_URLS: infra.replicas.join(','), SCALEMART_DATA_DIR: path.join(infra.dir, `instance-${i}`),
          // Caching off: every read reaches the read/write router.
          CACHE_MODE: 'off', SEED_DEMO_PRODUCTS: '0', JWT_SECRET, INTERNAL_SECRET, RATE_LIMIT_POINTS: '100000', LOG_LEVEL: 'warn',
        }, port),
      });
    }
    gateway = await startGatewayProcess(['--upstream', upstreams.map((u) => `http://127.0.0.1:${u.port}`).join(','), '--balancer', 'round-robin'], await freePort(), {
      GATEWAY_HEALTH_INTERVAL_MS: '500', RATE_LIMIT_POINTS: '100000',
    });
    const signedUp = await call('POST', '/api/v1/auth/signup', { body: { email: 'ryw@gateway.test', password: 'password-123', name: 'Test User', country: 'DE' } });
    expect(signedUp.status).toBe(201);
    token = signedUp.body.token as string;
    // The account reaches the replicas; from here on they are 5 s behind every write.
    await replayed(infra.replicas, signedUp.headers.get(HEADER)!);
    // Each instance's router learns replay positions from its own probe (every 250 ms). Until it
    // has seen the replicas past the signup, the instance that served it (an anonymous write,
    // remembered for the caller's address: the gateway's, for every client) reads on the primary.
    await sleep(1_500);
  }, 240_000);
  afterAll(async () => {
    await gateway?.stop();
    for (const u of upstreams) {
      u.running.child.kill('SIGTERM');
      await u.running.exited;
    }
    await infra?.stop();
  }, 60_000);

  async function call(method: string, url: string, options: { body?: unknown; headers?: Record<string, string> } = {}) {
    const response = await fetch(`${gateway.origin}${url}`, {
      method,
      headers: { ...(options.body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}), ...options.headers },
      body: options.body ? JSON.stringify(options.body) : undefined,
      signal: AbortSignal.timeout(10_000),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
  }
  /** Which instance served the request `send` makes, read from the gateway's per-instance counters. */
  async function servedBy<T>(send: () => Promise<T>): Promise<{ result: T; port: number }> {
    const counts = async () => {
      const text = await (await fetch(`${gateway.origin}/metrics`)).text();
      return upstreams.map((u) => metric(text, 'scalemart_gateway_upstream_requests_total', `pool="default",instance="127.0.0.1:${u.port}"`) ?? 0);
    };
    const before = await counts();
    const result = await send();
    const after = await counts();
    const moved = upstreams.filter((_u, i) => after[i]! > before[i]!);
    expect(moved).toHaveLength(1);
    return { result, port: moved[0]!.port };
  }

  it('a read on the other instance sees the write with the position the write answered, and not without it', async () => {
    let writer: number | undefined;
    for (let i = 0; i < 6; i++) {
      const name = `Written ${i}`;
      const write = await servedBy(() => call('PATCH', '/api/v1/users/me', { body: { name } }));
      expect(write.result.status).toBe(200);
      // Round-robin over two: every write lands on one instance, every read on the other, which
      // never served a write of this client (nor of its address: the gateway's) since the replicas caught up.
      writer ??= write.port;
      expect(write.port).toBe(writer);
      const position = write.result.headers.get(HEADER);
      expect(position, 'the gateway passes the write position back').toMatch(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/);
      const read = await servedBy(() => call('GET', '/api/v1/users/me', { headers: { [HEADER]: position! } }));
      expect(read.port).not.toBe(writer);
      expect(read.result.status).toBe(200);
      expect(read.result.body.name, `read ${i} with the position`).toBe(name);
      // A read on the writer (the other's turn), then the same read on the same instance without
      // the position: its replicas are 5 s behind, so it shows the name before (the lag is real).
      await call('GET', '/api/v1/products?limit=1');
      const stale = await servedBy(() => call('GET', '/api/v1/users/me'));
      expect(stale.port).toBe(read.port);
      expect(stale.result.body.name, `read ${i} without the position`).not.toBe(name);
      expect(stale.result.headers.get(HEADER), 'a read carries no position back').toBeNull();
    }
  });
});
