import type { Socket } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/process.ts';
import { json, startGatewayProcess, startRawUpstream, type RawUpstream, type RunningGateway } from './support.ts';

/** The full form: a routes file with two pools, each with its own strategy. */
describe('a gateway with a routes file', () => {
  let dir: string;
  let catalog: RawUpstream[];
  let rest: RawUpstream[];
  let gateway: RunningGateway;
  const answer = (name: string) => (request: { path: string }, socket: Socket) => json(socket, 200, { name, path: request.path });

  beforeAll(async () => {
    catalog = [await startRawUpstream(answer('catalog-a')), await startRawUpstream(answer('catalog-b')), await startRawUpstream(answer('catalog-c'))];
    rest = [await startRawUpstream(answer('rest-a')), await startRawUpstream(answer('rest-b'))];
    dir = await mkdtemp(path.join(tmpdir(), 'scalemart-gw-routes-'));
    const file = path.join(dir, 'routes.json');
    await writeFile(file, JSON.stringify({
      pools: {
        catalog: { upstreams: catalog.map((u) => u.url), balancer: 'hash', hashKey: 'header:x-session' },
        rest: { upstreams: [{ url: rest[0]!.url, weight: 1 }, { url: rest[1]!.url, weight: 3 }], balancer: 'weighted' },
      },
      routes: [{ prefix: '/api/v1/products', pool: 'catalog' }, { prefix: '/api/v1', pool: 'rest' }],
    }));
    gateway = await startGatewayProcess(['--routes', file], await freePort(), { RATE_LIMIT_POINTS: '100000' });
  });
  afterAll(async () => {
    await gateway?.stop();
    for (const u of [...(catalog ?? []), ...(rest ?? [])]) await u.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const get = async (url: string, headers: Record<string, string> = {}) => (await (await fetch(`${gateway.origin}${url}`, { headers })).json()) as { name: string; path: string };

  it('routes by the longest prefix, and passes path and query through', async () => {
    expect((await get('/api/v1/products/p-1?x=1')).path).toBe('/api/v1/products/p-1?x=1');
    expect((await get('/api/v1/products')).name).toMatch(/^catalog-/);
    expect((await get('/api/v1/users/me')).name).toMatch(/^rest-/);
    expect((await get('/api/v1')).name).toMatch(/^rest-/);
  });

  it('sends one session to one catalog instance, and spreads sessions over all three', async () => {
    const owners = new Set<string>();
    for (let s = 0; s < 30; s++) {
      const first = (await get('/api/v1/products', { 'x-session': `s-${s}` })).name;
      for (let i = 0; i < 3; i++) expect((await get('/api/v1/products', { 'x-session': `s-${s}` })).name).toBe(first);
      owners.add(first);
    }
    expect(owners.size).toBe(3);
  });

  it('weights the rest pool 1:3', async () => {
    const names: string[] = [];
    for (let i = 0; i < 40; i++) names.push((await get('/api/v1/users/me')).name);
    expect(names.filter((n) => n === 'rest-b')).toHaveLength(30);
  });

  it('refuses a bad routes file with one line naming the field', async () => {
    const file = path.join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ pools: { a: { upstreams: ['http://127.0.0.1:1'] } }, routes: [{ prefix: '/internal/v1', pool: 'a' }] }));
    const started = startGatewayProcess(['--routes', file], await freePort());
    await expect(started).rejects.toThrow(/Configuration error: GATEWAY_ROUTES_FILE: routes\.0\.prefix: a path prefix under \/api\/v1/);
  });
});
