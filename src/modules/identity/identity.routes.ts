import { Type } from 'typebox';
import type { HttpApp } from '../../platform/http/create-app.ts';
import { AUTHENTICATED, PUBLIC, principalOf, requireRole } from '../../platform/http/authenticate.ts';
import { PRIVATE_NO_STORE } from '../../platform/http/http-cache.ts';
import { PlatformErrors } from '../../platform/errors/domain-error.ts';
import { problemSchema } from '../../platform/http/problem.ts';
import type { IdentityApi } from './contract.ts';

const Email = Type.String({ format: 'email', maxLength: 254 });
const Password = Type.String({ minLength: 8, maxLength: 200 });
const Name = Type.String({ minLength: 1, maxLength: 100 });
const Country = Type.String({ pattern: '^[A-Za-z]{2}$', description: 'ISO 3166-1 alpha-2' });
const Role = Type.Union([Type.Literal('customer'), Type.Literal('admin')]);

const UserSchema = Type.Object({
  id: Type.String(),
  email: Type.String(),
  name: Type.String(),
  country: Type.String(),
  role: Role,
  createdAt: Type.String({ format: 'date-time' }),
});
const errors = { 400: problemSchema, 401: problemSchema, 409: problemSchema, 429: problemSchema };

export function registerIdentityRoutes(app: HttpApp, identity: IdentityApi): void {
  app.post('/api/v1/auth/signup', {
    schema: {
      tags: ['identity'],
      operationId: 'signup',
      security: PUBLIC,
      summary: 'Create a customer account',
      body: Type.Object({ email: Email, password: Password, name: Name, country: Country }, { additionalProperties: false }),
      response: { 201: Type.Object({ user: UserSchema, token: Type.String() }), ...errors },
    },
  }, async (request, reply) => {
    reply.header('Cache-Control', PRIVATE_NO_STORE);
    return reply.code(201).send(await identity.signup(request.body));
  });

  app.post('/api/v1/auth/login', {
    schema: {
      tags: ['identity'],
      operationId: 'login',
      security: PUBLIC,
      summary: 'Exchange credentials for an access token',
      body: Type.Object({ email: Email, password: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
      response: { 200: Type.Object({ token: Type.String(), expiresIn: Type.Integer({ description: 'seconds' }) }), ...errors },
    },
  }, async (request, reply) => {
    reply.header('Cache-Control', PRIVATE_NO_STORE);
    return identity.login(request.body.email, request.body.password);
  });

  app.get('/api/v1/users/me', {
    preValidation: requireRole('customer'),
    schema: { tags: ['identity'], operationId: 'getMe', summary: 'Your profile', security: AUTHENTICATED, response: { 200: UserSchema, ...errors } },
  }, async (request, reply) => {
    reply.header('Cache-Control', PRIVATE_NO_STORE);
    const user = await identity.getUser(principalOf(request).subject);
    if (!user) throw PlatformErrors.notFound('user');
    return user;
  });

  app.patch('/api/v1/users/me', {
    preValidation: requireRole('customer'),
    schema: {
      tags: ['identity'],
      operationId: 'updateMe',
      summary: 'Change your name or country',
      security: AUTHENTICATED,
      body: Type.Object({ name: Type.Optional(Name), country: Type.Optional(Country) }, { additionalProperties: false, minProperties: 1 }),
      response: { 200: UserSchema, ...errors },
    },
  }, async (request, reply) => {
    reply.header('Cache-Control', PRIVATE_NO_STORE);
    return identity.updateUser(principalOf(request).subject, request.body);
  });

  app.post('/api/v1/admin/api-keys', {
    preValidation: requireRole('admin'),
    schema: {
      tags: ['identity'],
      operationId: 'createApiKey',
      summary: 'Create an API key for a machine client (shown once)',
      security: AUTHENTICATED,
      body: Type.Object({ name: Name, role: Role }, { additionalProperties: false }),
      response: { 201: Type.Object({ id: Type.String(), name: Type.String(), role: Role, key: Type.String() }), ...errors, 403: problemSchema },
    },
  }, async (request, reply) => {
    reply.header('Cache-Control', PRIVATE_NO_STORE);
    return reply.code(201).send(await identity.createApiKey(principalOf(request).subject, request.body.name, request.body.role));
  });
}
