import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findNginx } from '../../src/app/infra/edge.ts';
import type { FleetStatus } from '../../src/app/fleet/fleet.ts';
import { alive } from '../../src/app/fleet/state.ts';
import { fleetCli as cli } from '../support/fleet.ts';

/**
 * The fleet runner against real processes: the nginx edge (when nginx is installed), one gateway
 * and two all-modules instances. The instances run the monolith stage on in-memory PGlite, each
 * with its own data: the scaled stage would need `infra up`, and what is tested here is the
 * runner (start, watch, restart, stop), not the data tier. Ports 26800–26999.
 */
const EDGE = findNginx() !== undefined;
const topology = {
  version: 1,
  stage: 'monolith',
  edge: { enabled: EDGE, port: 26900 },
  gateways: { instances: 1, port: 26901 },
  groups: [{ name: 'all', instances: 2, port: 26910 }],
  env: {
    DATABASE_URL: 'memory://', SEED_DEMO_PRODUCTS: '5', LOG_LEVEL: 'warn',
    TRUSTED_PROXIES: '127.0.0.1', GATEWAY_TRUSTED_PROXIES: '127.0.0.1',
    GATEWAY_DRAIN_GRACE_MS: '200', GATEWAY_HEALTH_INTERVAL_MS: '500',
  },
};

/** What holds the pid now, for a failure message (a zombie or a reused pid is not ours). */
function describe_(pid: number): string {
  try {
    return `${readFileSync(`/proc/${pid}/stat`, 'utf8').slice(0, 80)} | ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')}`;
  } catch {
    return 'gone';
  }
}

describe('scalemart fleet on real processes', () => {
  let dir: string;
  let file: string;
  const pids = new Set<number>();
  const status = async (): Promise<FleetStatus> => JSON.parse((await cli(['status', '--json', '--dir', dir])).stdout) as FleetStatus;
  const remember = (s: FleetStatus) => {
    for (const p of s.processes) if (p.pid) pids.add(p.pid);
    if (s.supervisorPid) pids.add(s.supervisorPid);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scalemart-fleet-'));
    file = join(dir, 'topology.json');
    await writeFile(file, JSON.stringify(topology));
  });

  afterAll(async () => {
    // Whatever a failed test left running; `down` signals recorded pids only.
    await cli(['down', '--dir', dir]);
    await rm(dir, { recursive: true, force: true });
  }, 120_000);

  it('up: every process ready, the front door answers /api/v1/products', async () => {
    const up = await cli(['up', '--topology', file, '--dir', dir, '--json']);
    expect(up.code, `${up.stderr}\n${up.stdout}`).toBe(0);
    const s = JSON.parse(up.stdout) as FleetStatus;
    remember(s);
    expect(s.running).toBe(true);
    expect(s.publicUrl).toBe(EDGE ? 'http://127.0.0.1:26900' : 'http://127.0.0.1:26901');
    expect(s.processes.map((p) => [p.name, p.role, p.port, p.health, p.restarts])).toEqual([
      ...(EDGE ? [['edge', 'edge', 26900, 'ready', 0]] : []),
      ['all-1', 'all', 26910, 'ready', 0],
      ['all-2', 'all', 26911, 'ready', 0],
      ['gateway-1', 'gateway', 26901, 'ready', 0],
    ]);
    const response = await fetch(`${s.publicUrl}/api/v1/products?limit=2`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { items: unknown[] }).items).toHaveLength(2);
    // A second `up` is refused while this one runs.
    const again = await cli(['up', '--topology', file, '--dir', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already runs/);
  }, 300_000);

  it('a SIGKILLed instance is restarted by the supervisor and is ready again, restarts=1', async () => {
    const before = (await status()).processes.find((p) => p.name === 'all-2')!;
    process.kill(before.pid!, 'SIGKILL');
    const deadline = Date.now() + 180_000;
    let after = before;
    while (Date.now() < deadline) {
      after = (await status()).processes.find((p) => p.name === 'all-2')!;
      if (after.restarts === 1 && after.pid !== before.pid && after.health === 'ready') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(after).toMatchObject({ restarts: 1, health: 'ready', state: 'running' });
    expect(after.pid).not.toBe(before.pid);
    pids.add(after.pid!);
    const s = await status();
    expect(s.processes.filter((p) => p.name !== 'all-2').every((p) => p.restarts === 0 && p.health === 'ready')).toBe(true);
    const response = await fetch(`${s.publicUrl}/api/v1/products?limit=1`);
    expect(response.status).toBe(200);
  }, 240_000);

  it.runIf(EDGE)('a stopped edge is started again by the supervisor', async () => {
    const before = (await status()).processes.find((p) => p.name === 'edge')!;
    // SIGTERM: nginx's master takes its workers with it, as a crash of the whole edge would.
    process.kill(before.pid!, 'SIGTERM');
    const deadline = Date.now() + 60_000;
    let after = before;
    while (Date.now() < deadline) {
      after = (await status()).processes.find((p) => p.name === 'edge')!;
      if (after.restarts === 1 && after.pid !== before.pid && after.health === 'ready') break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(after).toMatchObject({ restarts: 1, health: 'ready' });
    pids.add(after.pid!);
    expect((await fetch('http://127.0.0.1:26900/api/v1/products?limit=1')).status).toBe(200);
  }, 90_000);

  it('down: every recorded pid is gone, and status says so', async () => {
    remember(await status());
    const down = await cli(['down', '--dir', dir]);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toMatch(/supervisor \(pid \d+\): stopped/);
    // Dead, or a zombie its new parent has not reaped yet; never one of our command lines.
    for (const pid of pids) expect(alive(pid), `pid ${pid}: ${describe_(pid)}`).toBe(false);
    const s = await status();
    expect(s.running).toBe(false);
    expect(s.processes.every((p) => p.state === 'stopped' && p.health === 'not ready')).toBe(true);
    expect((await cli(['status', '--dir', dir])).code).toBe(1);
  }, 120_000);
});

describe('scalemart fleet when its supervisor is killed', () => {
  let dir: string;
  let file: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scalemart-fleet-orphans-'));
    file = join(dir, 'topology.json');
    await writeFile(file, JSON.stringify({
      ...topology, edge: { enabled: false }, gateways: { instances: 0, port: 26950 }, groups: [{ name: 'all', instances: 1, port: 26951 }],
    }));
  });

  afterAll(async () => {
    await cli(['down', '--dir', dir]);
    await rm(dir, { recursive: true, force: true });
  }, 120_000);

  it('leaves its children running, refuses a new up, and down stops them by their recorded pids', async () => {
    const up = await cli(['up', '--topology', file, '--dir', dir, '--json']);
    expect(up.code, `${up.stderr}\n${up.stdout}`).toBe(0);
    const s = JSON.parse(up.stdout) as FleetStatus;
    const instance = s.processes.find((p) => p.name === 'all-1')!;
    process.kill(s.supervisorPid!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    const after = JSON.parse((await cli(['status', '--json', '--dir', dir])).stdout) as FleetStatus;
    expect(after.running).toBe(false);
    expect(after.processes.find((p) => p.name === 'all-1')).toMatchObject({ pid: instance.pid, health: 'ready' });
    const again = await cli(['up', '--topology', file, '--dir', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/still run without their supervisor/);
    const down = await cli(['down', '--dir', dir]);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toContain(`all-1 (pid ${instance.pid}): stopped without its supervisor`);
    expect(alive(instance.pid!)).toBe(false);
  }, 240_000);
});
