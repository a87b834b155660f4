import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { createRandom } from '../workload/zipf.ts';
import { readEmail } from './email-message.ts';
import { KnobsError, defaultKnobs, drawLatency, mergeKnobs, parseKnobsPatch, type Knobs, type KnobsPatch, type ServiceName } from './knobs.ts';
import { createLedger, type Answer, type ChargeBody, type RefundBody, type ShipmentBody, type SimulatorLog, type WarehouseBody } from './ledger.ts';

export interface ProviderSimulatorOptions {
  /** Laid over the healthy defaults (no latency, no errors, no declines). */
  knobs?: KnobsPatch;
  /** Seed of the PRNG behind every random choice, so a run repeats. Default 1. */
  seed?: number;
  /** Default 0: a free port. Always on 127.0.0.1. */
  port?: number;
}

export interface ProviderSimulator {
  /** `http://127.0.0.1:PORT`, the baseUrl for every HTTP provider adapter. */
  url: string;
  log(): SimulatorLog;
  clearLog(): void;
  knobs(): Knobs;
  /** Validates (throws KnobsError) and merges; returns the knobs now in force. */
  setKnobs(patch: unknown): Knobs;
  /** Stops listening and drops every open connection, hung ones included. */
  close(): Promise<void>;
}

interface Act {
  /** Idempotency scope (one per route); absent for reads. */
  scope?: string;
  /** `business` is a uniform draw for the decline/reject decision. */
  work(business: number): Answer;
}

const text = Type.String({ minLength: 1 });
const items = Type.Array(Type.Object({ sku: text, quantity: Type.Integer({ minimum: 1 }) }), { minItems: 1 });
const schemas = {
  charge: Type.Object({ orderId: text, customerId: text, amount: Type.Integer({ minimum: 1 }), currency: Type.String({ minLength: 3, maxLength: 3 }) }),
  refund: Type.Object({ chargeId: text, amount: Type.Integer({ minimum: 1 }) }),
  shipment: Type.Object({ orderId: text, address: Type.Object({ line1: text, city: text, postalCode: text, country: text }), items }),
  warehouse: Type.Object({ orderId: text, items }),
};

/**
 * One process that plays the payment provider, the carrier, the warehouse and the mail relay,
 * with knobs that make each slow, failing or hung, and a log of everything they did.
 */
export async function createProviderSimulator(options: ProviderSimulatorOptions = {}): Promise<ProviderSimulator> {
  let knobs = mergeKnobs(defaultKnobs(), parseKnobsPatch(options.knobs ?? {}));
  const random = createRandom(options.seed ?? 1);
  const ledger = createLedger();
  const remembered = new Map<string, { fingerprint: string; answer: Answer }>();
  const lifetime = new AbortController();
  // Every request in its latency or hung listens to it; thousands at once is the lab's normal.
  setMaxListeners(0, lifetime.signal);
  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.addContentTypeParser('message/rfc822', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  const keyOf = (request: FastifyRequest) => {
    const key = request.headers['idempotency-key'];
    return typeof key === 'string' && key.length > 0 ? key : undefined;
  };

  /** Applies the service's knobs around `work`, and answers a repeated key with its first answer. */
  const act = async (service: ServiceName, request: FastifyRequest, reply: FastifyReply, key: string | undefined, spec: Act) => {
    if (spec.scope && !key) return reply.code(400).send({ error: 'the Idempotency-Key header is required' });
    ledger.received(service);
    const k = knobs[service];
    // Every draw is made up front and always, so the sequence depends on the seed, not the knobs.
    const delay = drawLatency(k.latencyMs, random);
    const [fails, hangs, business] = [random() < k.errorRate, random() < k.hangRate, random()];
    if (delay > 0) {
      // Closing cuts a request off in its latency, as a dying server would, rather than answering 500.
      const slept = await sleep(delay, true, { signal: lifetime.signal }).catch(() => false);
      if (!slept) return drop(request, reply);
    }
    // 503 before doing anything: a retry is safe even without the key.
    if (fails) return reply.code(503).send({ error: `simulated ${service} outage` });
    let answer: Answer;
    if (spec.scope && key) {
      const fingerprint = JSON.stringify(request.body ?? null);
      const earlier = remembered.get(`${spec.scope} ${key}`);
      if (earlier && earlier.fingerprint !== fingerprint) return reply.code(409).send({ error: 'idempotency key reused with a different request' });
      answer = earlier?.answer ?? spec.work(business);
      if (!earlier) remembered.set(`${spec.scope} ${key}`, { fingerprint, answer });
    } else {
      answer = spec.work(business);
    }
    // A hang after the work is done is the hard case for a client: it cannot know what happened.
    if (hangs) return hang(request, reply, lifetime.signal);
    return reply.code(answer.status).send(answer.body);
  };

  app.post<{ Body: ChargeBody }>('/payments/charges', { schema: { body: schemas.charge } }, (request, reply) =>
    act('payments', request, reply, keyOf(request), {
      scope: 'charge',
      work: (draw) => ledger.charge(keyOf(request)!, pick(request.body, ['orderId', 'customerId', 'amount', 'currency']), draw < knobs.payments.declineRate),
    }));
  app.get<{ Params: { key: string } }>('/payments/charges/by-key/:key', (request, reply) =>
    act('payments', request, reply, undefined, { work: () => ledger.chargeByKey(request.params.key) }));
  app.post<{ Body: RefundBody }>('/payments/refunds', { schema: { body: schemas.refund } }, (request, reply) =>
    act('payments', request, reply, keyOf(request), { scope: 'refund', work: () => ledger.refund(keyOf(request)!, request.body) }));

  app.post<{ Body: ShipmentBody }>('/carrier/shipments', { schema: { body: schemas.shipment } }, (request, reply) =>
    act('carrier', request, reply, keyOf(request), {
      scope: 'shipment',
      work: (draw) => ledger.book(keyOf(request)!, pick(request.body, ['orderId', 'address', 'items']), draw < knobs.carrier.rejectRate),
    }));
  app.post<{ Params: { id: string } }>('/carrier/shipments/:id/cancel', (request, reply) =>
    act('carrier', request, reply, keyOf(request), { scope: 'cancel', work: () => ledger.cancel(keyOf(request)!, request.params.id) }));

  app.post<{ Body: WarehouseBody }>('/warehouse/orders', { schema: { body: schemas.warehouse } }, (request, reply) =>
    act('warehouse', request, reply, keyOf(request), { scope: 'warehouse', work: () => ledger.submit(keyOf(request)!, pick(request.body, ['orderId', 'items'])) }));

  app.post('/email/messages', (request, reply) => {
    const email = readEmail(request.body);
    if (typeof email === 'string') return reply.code(400).send({ error: email });
    // A raw message always carries a Message-ID, so a nodemailer transport needs no extra header.
    const key = keyOf(request) ?? email.messageId;
    const { messageId: _, ...message } = email;
    return act('email', request, reply, key, { scope: 'email', work: () => ledger.email(key!, message) });
  });

  app.get('/log', async () => ledger.log());
  app.delete('/log', async (_request, reply) => (ledger.clearLog(), reply.code(204).send()));
  app.get('/knobs', async () => knobs);
  app.put('/knobs', async (request, reply) => {
    try {
      return setKnobs(request.body);
    } catch (error) {
      if (error instanceof KnobsError) return reply.code(400).send({ error: error.message, issues: error.issues });
      throw error;
    }
  });
  app.get('/health', async () => ({ ok: true }));

  function setKnobs(patch: unknown): Knobs {
    knobs = mergeKnobs(knobs, parseKnobsPatch(patch));
    return knobs;
  }

  await app.listen({ host: '127.0.0.1', port: options.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://127.0.0.1:${port}`,
    log: () => ledger.log(),
    clearLog: () => ledger.clearLog(),
    knobs: () => structuredClone(knobs),
    setKnobs: (patch) => structuredClone(setKnobs(patch)),
    close: async () => {
      lifetime.abort();
      await app.close();
    },
  };
}

/** Holds the request open, answering nothing, until the client (or the simulator) gives up. */
async function hang(request: FastifyRequest, reply: FastifyReply, lifetime: AbortSignal): Promise<void> {
  if (!request.raw.socket.destroyed && !lifetime.aborted) {
    await new Promise<void>((resolve) => {
      const done = () => {
        reply.raw.off('close', done);
        lifetime.removeEventListener('abort', done);
        resolve();
      };
      reply.raw.once('close', done);
      lifetime.addEventListener('abort', done, { once: true });
    });
  }
  drop(request, reply);
}

/** Ends the exchange without an answer: the client sees its connection closed. */
function drop(request: FastifyRequest, reply: FastifyReply): void {
  reply.hijack();
  request.raw.socket.destroy();
}

/** Only the fields the log shows, so a client's extra fields do not leak into it. */
function pick<T extends object, K extends keyof T>(body: T, keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, body[k]])) as Pick<T, K>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, seed: { type: 'string', default: '1' }, knobs: { type: 'string' } } });
  const port = Number(values.port);
  const seed = Number(values.seed);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`--port must be 0..65535, got ${values.port}`);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got ${values.seed}`);
  const knobs = values.knobs === undefined ? {} : parseKnobsPatch(JSON.parse(values.knobs));
  const simulator = await createProviderSimulator({ port, seed, knobs });
  process.stdout.write(`listening on ${simulator.url}\n`);
  const stop = () => void simulator.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
