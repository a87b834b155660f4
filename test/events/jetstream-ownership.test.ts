import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/platform/events/event.ts';
import { createJetStreamTransport } from '../../src/platform/events/jetstream-transport.ts';
import { filterOf, legacyDurableOf, partitionOf } from '../../src/platform/events/jetstream-layout.ts';
import { envelope } from '../../src/platform/events/outbox.ts';
import type { EventTransport } from '../../src/platform/events/transport.ts';
import { startPrivateNats, type PrivateNats } from '../support/nats.ts';
import { NODE } from '../support/process.ts';
import { sleep, until } from '../support/wait.ts';

/** This suite's private NATS port (other suites use other ranges). */
const NATS_PORT = 24_255;
const LEASE_TTL_MS = 3_000;

/**
 * Who works a group's partitions on JetStream: one owner per partition under a lease, a new owner
 * taking over from where a killed one left off, and durables of the one-at-a-time layout handed
 * over to the batched one where they stood.
 */
describe('partition ownership on JetStream', () => {
  let nats: PrivateNats;
  const transports: EventTransport[] = [];
  const children: ChildProcess[] = [];
  const layout = (label: string) => {
    const tag = `${label}_${randomBytes(3).toString('hex')}`;
    return { stream: tag.toUpperCase(), subjectPrefix: tag };
  };

  beforeAll(async () => {
    nats = await startPrivateNats({ port: NATS_PORT });
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    for (const transport of transports) await transport.close().catch(() => undefined);
    await nats?.stop();
  });

  it('a member killed mid-batch: another takes its partitions within the lease term and finishes every event, in order per key', async () => {
    const where = layout('takeover');
    const type = 'own.item.moved';
    const group = 'own.takeover';
    const partitions = 8;
    // The victim: a process of its own, handling slowly, so it dies holding delivered, unsettled events.
    const child = spawn(NODE, ['test/events/support/group-member.ts'], {
      env: { ...process.env, NATS_URL: nats.url, STREAM: where.stream, PREFIX: where.subjectPrefix, GROUP: group, TYPE: type, PARTITIONS: String(partitions), LEASE_TTL_MS: String(LEASE_TTL_MS), HANDLE_MS: '10' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const byVictim = new Set<string>();
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      for (const m of out.matchAll(/handled (\S+) /g)) byVictim.add(m[1]!);
    });
    await until(() => out.includes('ready'), 'the victim to start', 20_000);

    const transport = await createJetStreamTransport({ servers: nats.url, ...where, partitions, leaseTtlMs: LEASE_TTL_MS });
    transports.push(transport);
    const keys = Array.from({ length: 32 }, (_, i) => `key-${i}`);
    const events = Array.from({ length: 1_200 }, (_, i) => envelope({ type, key: keys[i % keys.length]!, payload: { n: i } }));
    // The victim alone holds the group (it joined first and nobody else is a member yet).
    await sleep(1_000);
    for (let i = 0; i < events.length; i += 100) await transport.publish(events.slice(i, i + 100));
    await until(() => byVictim.size >= 100, 'the victim to handle some', 20_000);

    const survivor: Delivery[] = [];
    const sub = transport.consume({ name: group, types: [type] }, async (d) => (survivor.push(d), { kind: 'ack' }));
    // Both members now: the survivor takes its share; then the victim dies without a word.
    await until(() => survivor.length > 0, 'the survivor to take a share', 20_000);
    child.kill('SIGKILL');
    const killedAt = Date.now();
    await new Promise((r) => child.once('exit', r));

    const handled = () => new Set([...byVictim, ...survivor.map((d) => d.event.id)]);
    await until(() => handled().size === events.length, 'every event handled by one member or the other', 30_000);
    const tookMs = Date.now() - killedAt;
    await sub.stop();

    // Within the lease term plus a few seconds, not the 30 s ack wait the dead member's events had.
    expect(tookMs).toBeLessThan(LEASE_TTL_MS + 5_000);
    expect(byVictim.size).toBeLessThan(events.length);
    // Handled twice: at most the event each of the victim's partitions had in hand when it died
    // (one at a time, each is acked as it settles; a partition handed over is handed over settled).
    const twice = survivor.filter((d) => byVictim.has(d.event.id)).length;
    expect(twice).toBeLessThanOrEqual(partitions);
    // What the survivor handled is in log order per key; a repeat (an event the victim handled but
    // had not acked) comes only before the key's next event.
    for (const key of keys) {
      const ns = survivor.filter((d) => d.event.key === key).map((d) => (d.event.payload as { n: number }).n);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
    expect(await transport.lag({ name: group, types: [type] })).toBe(0);
  }, 60_000);

  it('moves a group from the one-at-a-time durables to the batched ones where each stood: nothing settled comes again', async () => {
    const where = layout('legacy');
    const type = 'own.item.kept';
    const group = 'own.legacy';
    const transport = await createJetStreamTransport({ servers: nats.url, ...where, partitions: 1, leaseTtlMs: LEASE_TTL_MS });
    transports.push(transport);
    const events = Array.from({ length: 10 }, (_, i) => envelope({ type, key: `k${i % 3}`, payload: { n: i } }));
    await transport.publish(events);
    expect(partitionOf('k0', 1)).toBe(0);

    // The earlier layout's durable, which settled the first four events one by one.
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const legacy = legacyDurableOf(group, 0);
      await jsm.consumers.add(where.stream, { durable_name: legacy, filter_subject: filterOf(where.subjectPrefix, [type], 0), ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_ack_pending: 1 });
      const consumer = await jetstream(nc).consumers.get(where.stream, legacy);
      for (let i = 0; i < 4; i++) {
        const msg = await consumer.next({ expires: 2_000 });
        await msg!.ackAck();
      }

      const got: Delivery[] = [];
      const sub = transport.consume({ name: group, types: [type] }, async (d) => (got.push(d), { kind: 'ack' }));
      await until(() => got.length >= 6, 'the rest of the events', 20_000);
      await sleep(500);
      await sub.stop();
      expect(got.map((d) => d.event.id)).toEqual(events.slice(4).map((e) => e.id));
      const names = (await jsm.consumers.list(where.stream).next()).map((c) => c.name);
      expect(names).not.toContain(legacy);
    } finally {
      await nc.close();
    }
  });
});
