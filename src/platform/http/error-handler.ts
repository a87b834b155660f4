import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { DomainError } from '../errors/domain-error.ts';
import { DependencyUnavailableError } from '../resilience/dependency-error.ts';
import { problem, STATUS_BY_KIND, type Problem } from './problem.ts';
import { fieldIssues } from './validation.ts';

function send(reply: FastifyReply, body: Problem): FastifyReply {
  return reply.status(body.status).type('application/problem+json').send(body);
}

/** Every error leaves as problem+json with a stable code; a 5xx never carries internals. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | DomainError | DependencyUnavailableError, request, reply) => {
    if (error instanceof DependencyUnavailableError) {
      request.log.warn({ dependency: error.dependency, err: error.message }, 'dependency unavailable');
      reply.header('Retry-After', 5);
      return send(reply, problem(503, 'DEPENDENCY_UNAVAILABLE', `A system we depend on (${error.dependency}) is not answering; try again shortly.`));
    }
    if (error instanceof DomainError) {
      return send(reply, problem(STATUS_BY_KIND[error.kind], error.code, error.message, error.fields));
    }
    if (error.validation) {
      const errors = fieldIssues(error.validation, error.validationContext);
      return send(reply, problem(400, 'VALIDATION_FAILED', `Invalid ${error.validationContext ?? 'request'}: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}`, errors));
    }
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return send(reply, problem(413, 'PAYLOAD_TOO_LARGE', 'The request body is larger than the limit.'));
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return send(reply, problem(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send JSON with Content-Type: application/json.'));
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return send(reply, problem(400, 'VALIDATION_FAILED', 'The JSON body is empty.', [{ field: '(body)', message: 'is empty' }]));
    }
    const status = error.statusCode ?? 500;
    if (status === 400) {
      // Malformed JSON and other parse failures.
      return send(reply, problem(400, 'VALIDATION_FAILED', 'The request body is not valid JSON.', [{ field: '(body)', message: 'is not valid JSON' }]));
    }
    if (status < 500) {
      return send(reply, problem(status, error.code ?? 'BAD_REQUEST', error.message));
    }
    request.log.error({ err: error }, 'request failed');
    return send(reply, problem(500, 'INTERNAL', 'Something went wrong on our side. The request id identifies it in our logs.'));
  });

  app.setNotFoundHandler((request, reply) =>
    send(reply, problem(404, 'NOT_FOUND', `No route for ${request.method} ${request.url.split('?')[0]}.`)),
  );
}
