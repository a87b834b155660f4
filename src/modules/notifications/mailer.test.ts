import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProviderSimulator, type ProviderSimulator } from '../../../lab/simulators/providers.ts';
import { createMailer } from './mailer.ts';

describe('mailer over HTTP', () => {
  let simulator: ProviderSimulator;
  let dir: string;
  beforeAll(async () => {
    simulator = await createProviderSimulator({ seed: 3 });
    dir = await mkdtemp(path.join(os.tmpdir(), 'scalemart-mailer-'));
  });
  afterAll(async () => {
    await simulator.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('sends a resent email (a crash between sending and recording) as the same message, which the mail API drops', async () => {
    const mailer = createMailer({ url: `${simulator.url}/email/messages`, dir });
    const email = { to: 'ada@example.com', subject: 'Your order', text: 'Thanks', name: 'order-1-confirmed' };
    await mailer.send(email);
    await mailer.send(email);
    // A resend seconds later is built anew (another Date header): the API refuses the key's reuse
    // with other bytes (409), which means this email was delivered already.
    await mailer.send({ ...email, text: 'Thanks (built again)' });
    await mailer.send({ ...email, name: 'order-2-confirmed' });
    expect(simulator.log().emails.map((e) => e.to)).toEqual(['ada@example.com', 'ada@example.com']);
    expect(simulator.log().requests.email).toBe(4);
  });
});
