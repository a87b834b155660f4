import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/platform/events/event.ts';
import { createJetStreamTransport, type JetStreamTransportOptions } from '../../src/platform/events/jetstream-transport.ts';
import { envelope } from '../../src/platform/events/outbox.ts';
import type { EventTransport, Settlement } from '../../src/platform/events/transport.ts';
import { NATS_SERVER, startPrivateNats, type PrivateNats } from '../support/nats.ts';
import { sleep, until } from '../support/wait.ts';
import { eventTransportContract } from './event-transport.contract.ts';

// This suite's port range is 24200–24299; one server for the whole file, distinct streams per part.
const PORT = 24200 + (process.pid % 50);
let nats: PrivateNats | undefined;
const server = async () => (nats ??= await startPrivateNats({ port: PORT }));
afterAll(async () => nats?.stop());

const unique = (label: string) => `${label}_${randomBytes(4).toString('hex')}`;
const options = (label: string): JetStreamTransportOptions => ({ stream: unique(label.toUpperCase()), subjectPrefix: unique(label), partitions: 8 });

eventTransportContract('JetStream on nats-server 2.9', async () => {
  const { url } = await server();
  const transport = await createJetStreamTransport({ ...options('contract'), servers: url });
  return { transport, capabilities: { parallelGroup: true, retryBlocksOnlyItsPartition: true }, dispose: () => transport.close() };
});

describe('JetStream transport on nats-server 2.9', () => {
  let transport: EventTransport | undefined;
  let opts: JetStreamTransportOptions;
  beforeAll(async () => {
    const { url } = await server();
    opts = { ...options('js'), servers: url, duplicateWindowMs: 60_000, ackWaitMs: 2_000 };
    transport = await createJetStreamTransport(opts);
  });
  afterAll(async () => transport?.close());

  it('drops a repeated event id within the duplicate window, from another connection too', async () => {
    const e = envelope({ type: 'js.dedup.x', key: 'k', payload: {} });
    const second = await createJetStreamTransport(opts);
    try {
      await transport!.publish([e]);
      await second.publish([e, e]);
    } finally {
      await second.close();
    }
    expect((await transport!.read(1, 1_000)).filter((d) => d.event.id === e.id)).toHaveLength(1);
  });

  it('leaves no consumer behind a stopped broadcast subscription, and creates one durable per partition for a group', async () => {
    const nc = await connect({ servers: opts.servers });
    try {
      const jsm = await jetstreamManager(nc);
      const names = async () => (await jsm.consumers.list(opts.stream!).next()).map((c) => c.name);
      const before = await names();
      const sub = transport!.consume({ name: 'js.cache', types: ['js.noise.x'], delivery: 'broadcast' }, async () => ({ kind: 'ack' }));
      await until(async () => (await names()).length === before.length + 1, 'the broadcast consumer');
      await sub.stop();
      expect(await names()).toEqual(before);

      const group = transport!.consume({ name: 'js.layout', types: ['js.noise.x'] }, async () => ({ kind: 'ack' }));
      await until(async () => (await names()).filter((n) => n.startsWith('js_layout_b')).length === 8, 'eight durables');
      await group.stop();
      const info = await jsm.consumers.info(opts.stream!, 'js_layout_b3');
      expect(info.config).toMatchObject({ filter_subject: `${opts.subjectPrefix}.js.noise.x.3`, max_ack_pending: 2 * 256, ack_policy: 'all' });
    } finally {
      await nc.close();
    }
  });

  it('keeps a running group subscription of another process working through a rewind: it re-attaches and receives again', async () => {
    const spec = { name: 'js.rewind-live', types: ['js.rwlive.x'] };
    const other = await createJetStreamTransport(opts);
    const got: Delivery[] = [];
    const sub = other.consume(spec, async (d) => (got.push(d), { kind: 'ack' }));
    try {
      const events = Array.from({ length: 12 }, (_, i) => envelope({ type: 'js.rwlive.x', key: `k${i % 4}`, payload: { n: i } }));
      await transport!.publish(events);
      await until(() => got.length === 12, 'the first pass');
      const from = Math.min(...got.map((d) => d.sequence));
      await transport!.rewind(spec, { sequence: from });
      await until(() => got.length === 24, 'the second pass after the rewind');
      await sleep(300);
      expect(got).toHaveLength(24);
      expect(got.slice(12).map((d) => d.event.id).sort()).toEqual(events.map((e) => e.id).sort());
      expect(got.slice(12).every((d) => d.attempt === 1)).toBe(true);
    } finally {
      await sub.stop();
      await other.close();
    }
  });

  it('keeps a slow handler\'s event from going to another subscriber past the ack wait (it signals progress)', async () => {
    const got: Delivery[] = [];
    const slow = async (d: Delivery): Promise<Settlement> => {
      got.push(d);
      await sleep(opts.ackWaitMs! * 1.6);
      return { kind: 'ack' };
    };
    // Two subscribers: the idle one would receive the event the moment the server gave up on the first.
    const subs = [0, 1].map(() => transport!.consume({ name: 'js.slow', types: ['js.slow.x'] }, slow));
    try {
      await transport!.publish([envelope({ type: 'js.slow.x', key: 'k', payload: {} })]);
      await until(() => got.length === 1, 'the delivery');
      await sleep(opts.ackWaitMs! * 2);
      expect(got.map((d) => d.attempt)).toEqual([1]);
    } finally {
      await Promise.all(subs.map((s) => s.stop()));
    }
  });

  it('resumes a group and a broadcast within seconds of reconnecting, though the first server to answer had no JetStream yet', async () => {
    // The client's own recovery of a pull asks for the consumer's info on a reconnect and, when
    // JetStream does not answer, asks again only 15–45 s later; a second reconnect meanwhile does
    // not cut that short. A server without JetStream on the port stands in for one still recovering its store.
    const group = new Set<string>();
    const everyone = new Set<string>();
    const subs = [
      transport!.consume({ name: 'js.ready', types: ['js.ready.x'] }, async (d) => (group.add(d.event.id), { kind: 'ack' })),
      transport!.consume({ name: 'js.ready.all', types: ['js.ready.x'], delivery: 'broadcast' }, async (d) => (everyone.add(d.event.id), { kind: 'ack' })),
    ];
    let bare: ChildProcess | undefined;
    try {
      const first = envelope({ type: 'js.ready.x', key: 'k', payload: {} });
      await transport!.publish([first]);
      await until(() => group.has(first.id) && everyone.has(first.id), 'the first event, before the crash');

      await nats!.kill('SIGKILL');
      await until(() => !transport!.health().up, 'health to report the broker down', 5_000);
      bare = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(nats!.port)], { stdio: 'ignore' });
      await until(() => transport!.health().up, 'a reconnect to the server without JetStream', 10_000);
      await sleep(1_000); // the client's info request fails meanwhile
      const bareExited = new Promise((resolve) => bare!.once('exit', resolve));
      bare.kill('SIGKILL');
      await bareExited;
      await nats!.restart();
      await until(() => transport!.health().up, 'a reconnect to the restarted server', 10_000);

      const second = envelope({ type: 'js.ready.x', key: 'k', payload: {} });
      await until(() => transport!.publish([second]).then(() => true, () => false), 'a publish after the restart');
      await until(() => group.has(second.id) && everyone.has(second.id), 'the second event at the group and the broadcast', 10_000);
    } finally {
      if (bare && bare.exitCode === null && bare.signalCode === null) bare.kill('SIGKILL');
      await Promise.all(subs.map((sub) => sub.stop()));
    }
  }, 40_000);

  it('survives a broker killed -9 and restarted on its store: publishes fail meanwhile, then every event reaches the group once', async () => {
    const spec = { name: 'js.crash', types: ['js.crash.x'] };
    const handled = new Map<string, Delivery[]>();
    const sub = transport!.consume(spec, async (d) => {
      handled.set(d.event.id, [...(handled.get(d.event.id) ?? []), d]);
      await sleep(2);
      return { kind: 'ack' };
    });
    const batch = (from: number) => Array.from({ length: 40 }, (_, i) => envelope({ type: 'js.crash.x', key: `k${(from + i) % 10}`, payload: { n: from + i } }));
    try {
      const before = batch(0);
      await transport!.publish(before);
      await until(() => handled.size >= 10, 'some deliveries before the crash');

      await nats!.kill('SIGKILL');
      await until(() => !transport!.health().up, 'health to report the broker down', 5_000);
      await expect(transport!.publish(batch(1_000))).rejects.toMatchObject({ code: 'EVENTS_UNAVAILABLE' });
      await sleep(2_000);
      await nats!.restart();
      await until(() => transport!.health().up, 'reconnection');

      const after = batch(100);
      // JetStream may still be recovering the stream right after the restart: retry like the relay.
      await until(() => transport!.publish(after).then(() => true, () => false), 'a publish after the restart');
      const all = [...before, ...after];
      await until(() => all.every((e) => handled.has(e.id)), 'every event to reach the group', 20_000);
      await sleep(500);
      expect(all.filter((e) => handled.get(e.id)!.length !== 1).map((e) => handled.get(e.id)!.map((d) => d.attempt))).toEqual([]);
      for (let key = 0; key < 10; key++) {
        const ns = [...handled.values()].map((ds) => ds[0]!).filter((d) => d.event.key === `k${key}`).map((d) => (d.event.payload as { n: number }).n);
        expect(ns).toEqual(all.filter((e) => e.key === `k${key}`).map((e) => (e.payload as { n: number }).n));
      }
    } finally {
      await sub.stop();
    }
  }, 45_000);
});
