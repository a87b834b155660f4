import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateNats, type PrivateNats } from '../../../test/support/nats.ts';
import { createJetStreamPublisher, type OutgoingMessage } from './jetstream-publisher.ts';

const NATS_PORT = 24_310;
const encoder = new TextEncoder();

const message = (subject: string, id: string, body = id): OutgoingMessage => {
  const h = headers();
  h.set('Nats-Msg-Id', id);
  return { subject, data: encoder.encode(body), headers: h };
};

describe('JetStream publisher (one reply subscription per connection)', () => {
  let nats: PrivateNats;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    nats = await startPrivateNats({ port: NATS_PORT });
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'PUB', subjects: ['pub.>'], max_msg_size: 1_024 });
  }, 30_000);
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('stores 2 000 messages in the order sent and gives back each one\'s sequence; a repeated id gets the first copy\'s', async () => {
    const publisher = createJetStreamPublisher(nc, { timeoutMs: 5_000 });
    const sent = Array.from({ length: 2_000 }, (_, i) => message(`pub.a.${i % 7}`, `m${i}`));
    const sequences = await publisher.publish(sent);
    expect(sequences).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1));
    const stored = await jsm.streams.getMessage('PUB', { seq: 1_234 });
    expect(new TextDecoder().decode(stored!.data)).toBe('m1233');

    expect(await publisher.publish([message('pub.a.0', 'm10', 'again'), message('pub.a.0', 'm2000')])).toEqual([11, 2_001]);
    expect((await jsm.streams.info('PUB')).state.messages).toBe(2_001);
    publisher.close();
  });

  it('fails with EVENTS_UNAVAILABLE at once when no stream takes the subject, and with the reason when the stream refuses', async () => {
    const publisher = createJetStreamPublisher(nc, { timeoutMs: 5_000 });
    const started = performance.now();
    await expect(publisher.publish([message('nowhere.a', 'x1')])).rejects.toMatchObject({ code: 'EVENTS_UNAVAILABLE' });
    expect(performance.now() - started).toBeLessThan(1_000);
    await expect(publisher.publish([message('pub.big', 'x2', 'x'.repeat(2_000))])).rejects.toThrow(/refused a message: .*maximum/i);
    publisher.close();
  });

  it('fails with EVENTS_UNAVAILABLE when no acknowledgement comes in time, and after it is closed', async () => {
    // A plain subscriber takes the subject and never answers.
    const silent = nc.subscribe('silent.>');
    const publisher = createJetStreamPublisher(nc, { timeoutMs: 300 });
    await expect(publisher.publish([message('silent.a', 's1')])).rejects.toMatchObject({ code: 'EVENTS_UNAVAILABLE', message: /within 300 ms/ });
    silent.unsubscribe();
    publisher.close();
    await expect(publisher.publish([message('pub.a.0', 's2')])).rejects.toMatchObject({ code: 'EVENTS_UNAVAILABLE' });
  });
});
