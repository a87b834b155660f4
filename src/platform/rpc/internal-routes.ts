import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyReply, onRequestHookHandler } from 'fastify';
import { Compile } from 'typebox/compile';
import { DomainError, PlatformErrors } from '../errors/domain-error.ts';
import { problem, STATUS_BY_KIND, type Problem } from '../http/problem.ts';
import { DependencyUnavailableError } from '../resilience/dependency-error.ts';
import { remoteMethods, type ContractTable } from './contract-table.ts';
import { INTERNAL_UNAUTHENTICATED } from './errors.ts';
import { INTERNAL_CALL_HEADER, verifyInternalCall } from './internal-auth.ts';

export interface InternalRoutesOptions {
  /** INTERNAL_SECRET, shared by every service; calls not signed with it are refused with 401. */
  secret: string;
}

/** Where a contract method is served: `/internal/v1/<module>/<method>`. */
export const internalPath = (module: string, method: string) => `/internal/v1/${module}/${method}`;

/**
 * A Fastify plugin serving `api`'s remote methods as `POST /internal/v1/<module>/<method>`: the
 * body is the JSON array of arguments, the answer `{ "result": … }`. Arguments and answers are
 * checked (and decoded, encoded) by the table's schemas: a bad argument is 400, an answer that
 * breaks its schema is a 500 on this side. A DomainError leaves as problem+json with its status
 * and code, and a DependencyUnavailableError as 503 DEPENDENCY_UNAVAILABLE, so the client raises
 * the same error. Register it without fastify-plugin: its error handler and hooks stay its own.
 */
export function internalRoutes<Api>(table: ContractTable<Api>, api: Api, options: InternalRoutesOptions): FastifyPluginAsync {
  const { secret } = options;
  if (!secret) throw new RangeError('internalRoutes: a secret is required');
  return async (app: FastifyInstance) => {
    app.setErrorHandler(answerError);
    for (const [name, method] of remoteMethods(table)) {
      const url = internalPath(table.module, name);
      const input = Compile(method.input);
      const output = Compile(method.output);
      const fn = (api as Record<string, (...args: unknown[]) => Promise<unknown>>)[name];
      if (typeof fn !== 'function') throw new TypeError(`internalRoutes: ${table.module} has no method ${name}`);
      const authenticate: onRequestHookHandler = (request, reply, done) => {
        if (verifyInternalCall(request.headers[INTERNAL_CALL_HEADER], secret, `POST ${url}`)) return done();
        void send(reply, problem(401, INTERNAL_UNAUTHENTICATED, 'Internal calls must be signed by a service holding INTERNAL_SECRET.'));
      };
      app.post(url, { onRequest: authenticate, schema: { hide: true } }, async (request) => {
        let args: unknown[];
        try {
          args = input.Decode(request.body) as unknown[];
        } catch {
          throw PlatformErrors.validation(input.Errors(request.body).map((e) => ({ field: e.instancePath.split('/').filter(Boolean).join('.') || '(args)', message: e.message })), `Invalid arguments to ${table.module}.${name}.`);
        }
        const result = await fn.apply(api, args);
        let encoded: unknown;
        try {
          encoded = output.Encode(result);
        } catch (error) {
          throw new Error(`${table.module}.${name} answered a value its table's output schema refuses`, { cause: error });
        }
        return { result: encoded };
      });
    }
  };
}

function send(reply: FastifyReply, body: Problem): FastifyReply {
  return reply.status(body.status).type('application/problem+json').send(body);
}

function answerError(this: FastifyInstance, error: FastifyError | DomainError | DependencyUnavailableError, request: Parameters<Parameters<FastifyInstance['setErrorHandler']>[0]>[1], reply: FastifyReply) {
  if (error instanceof DomainError) return send(reply, problem(STATUS_BY_KIND[error.kind], error.code, error.message, error.fields));
  if (error instanceof DependencyUnavailableError) {
    request.log.warn({ dependency: error.dependency, err: error.message }, 'internal call: dependency unavailable');
    return send(reply, problem(503, 'DEPENDENCY_UNAVAILABLE', error.message));
  }
  const status = (error as FastifyError).statusCode ?? 500;
  // Fastify's own refusals before the handler: a body that is not JSON, too large, of another type.
  if (status < 500) return send(reply, problem(status, (error as FastifyError).code ?? 'BAD_REQUEST', error.message));
  request.log.error({ err: error }, 'internal call failed');
  return send(reply, problem(500, 'INTERNAL', 'The service failed to answer an internal call; its logs say why.'));
}
