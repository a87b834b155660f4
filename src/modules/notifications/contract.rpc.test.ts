import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { controlOf, httpClient, RpcError } from '../../platform/rpc/index.ts';
import { SECRET, serve } from '../../platform/rpc/rpc-fixtures.ts';
import type { NotificationsApi } from './contract.ts';
import { notificationsContract } from './contract.rpc.ts';

describe('the notifications contract over HTTP', () => {
  // Every byte value, so an encoding that is not binary-safe shows.
  const pdf = new Uint8Array(Array.from({ length: 512 }, (_, i) => i % 256));
  const api: NotificationsApi = {
    invoice: async (orderId) => (orderId === 'o-1' ? pdf : null),
    processNow: async () => {},
  };
  let app: FastifyInstance;
  let remote: NotificationsApi;

  beforeAll(async () => {
    let url: string;
    ({ url, app } = await serve(notificationsContract, api));
    remote = httpClient(notificationsContract, { urls: [url], secret: SECRET, caller: 'orders', health: false });
  });
  afterAll(async () => (await controlOf(remote).close(), await app.close()));

  it('carries an invoice\'s bytes unchanged, and its absence as null', async () => {
    const bytes = await remote.invoice('o-1');
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(bytes!).equals(Buffer.from(pdf))).toBe(true);
    expect(await remote.invoice('o-2')).toBeNull();
  });

  it('keeps the lab\'s synchronous switch in-process', () => {
    expect(() => remote.processNow('orders.order.confirmed', {} as never)).toThrow(RpcError);
  });
});
