/**
 * One member of a consumer group in a process of its own, for tests that SIGKILL it: it handles
 * the group's events one at a time, taking `HANDLE_MS` each, and prints `handled <id> <attempt>`
 * for each before acknowledging it. Configured by environment: NATS_URL, STREAM, PREFIX, GROUP,
 * TYPE, PARTITIONS, LEASE_TTL_MS, HANDLE_MS.
 */
import { createJetStreamTransport } from '../../../src/platform/events/jetstream-transport.ts';

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};
const transport = await createJetStreamTransport({
  servers: env('NATS_URL'), stream: env('STREAM'), subjectPrefix: env('PREFIX'),
  partitions: Number(env('PARTITIONS')), leaseTtlMs: Number(env('LEASE_TTL_MS')),
});
const handleMs = Number(env('HANDLE_MS'));
transport.consume({ name: env('GROUP'), types: [env('TYPE')] }, async ({ event, attempt }) => {
  process.stdout.write(`handled ${event.id} ${attempt}\n`);
  await new Promise((r) => setTimeout(r, handleMs));
  return { kind: 'ack' };
});
process.stdout.write('ready\n');
