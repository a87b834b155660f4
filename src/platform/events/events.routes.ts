import { Type } from 'typebox';
import type { Database } from '../db/database.ts';
import { PlatformErrors } from '../errors/domain-error.ts';
import { AUTHENTICATED, requireRole } from '../http/authenticate.ts';
import type { HttpApp } from '../http/create-app.ts';
import { PRIVATE_NO_STORE } from '../http/http-cache.ts';
import { problemSchema } from '../http/problem.ts';
import { listDeadLetters, replayConsumer } from './admin.ts';
import type { ConsumerSpec, EventTransport } from './transport.ts';

const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema };

/** Admin routes to inspect dead letters and replay a consumer (API.md). */
export function registerEventAdminRoutes(app: HttpApp, deps: { db: Database; transport: EventTransport; consumers: () => ConsumerSpec[] }): void {
  app.get('/api/v1/admin/events/dead-letters', {
    preValidation: requireRole('admin'),
    schema: {
      tags: ['events'],
      operationId: 'listDeadLetters',
      summary: 'Events that kept failing, newest first',
      security: AUTHENTICATED,
      querystring: Type.Object({ consumer: Type.Optional(Type.String({ maxLength: 100 })), limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }) }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          items: Type.Array(Type.Object({
            id: Type.Integer(), consumer: Type.String(), eventId: Type.String(), sequence: Type.Integer(), type: Type.String(), key: Type.String(),
            payload: Type.Unknown(), error: Type.String(), attempts: Type.Integer(), failedAt: Type.String({ format: 'date-time' }),
          })),
        }),
        ...errors,
      },
    },
  }, async (request, reply) => {
    reply.header('Cache-Control', PRIVATE_NO_STORE);
    return { items: await listDeadLetters(deps.db, request.query) };
  });

  app.post('/api/v1/admin/events/replay', {
    preValidation: requireRole('admin'),
    schema: {
      tags: ['events'],
      operationId: 'replayEvents',
      summary: 'Replay a consumer group from a log sequence or from a time: every later event is handled again',
      security: AUTHENTICATED,
      body: Type.Object({
        consumer: Type.String({ minLength: 1, maxLength: 100 }),
        fromSequence: Type.Optional(Type.Integer({ minimum: 1 })),
        fromTime: Type.Optional(Type.String({ format: 'date-time' })),
      }, { additionalProperties: false }),
      response: {
        202: Type.Object({ consumer: Type.String(), fromSequence: Type.Optional(Type.Integer()), fromTime: Type.Optional(Type.String()), lag: Type.Integer() }),
        ...errors,
      },
    },
  }, async (request, reply) => {
    const { consumer, fromSequence, fromTime } = request.body;
    if ((fromSequence === undefined) === (fromTime === undefined)) {
      const message = 'give exactly one of fromSequence and fromTime';
      throw PlatformErrors.validation([{ field: 'fromSequence', message }, { field: 'fromTime', message }]);
    }
    const spec = deps.consumers().find((c) => c.name === consumer);
    if (!spec) throw PlatformErrors.notFound('consumer');
    if ((spec.delivery ?? 'group') !== 'group') throw PlatformErrors.validation([{ field: 'consumer', message: 'a broadcast consumer keeps no position to replay' }]);
    await replayConsumer(deps.db, deps.transport, spec, fromSequence ?? { time: new Date(fromTime!) });
    return reply.code(202).send({ ...request.body, lag: await deps.transport.lag(spec) });
  });
}
