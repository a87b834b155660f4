import { Type } from 'typebox';
import { defineContract, method } from '../../platform/rpc/index.ts';
import type { IdentityApi } from './contract.ts';

const Role = Type.Union([Type.Literal('customer'), Type.Literal('admin')]);
const User = Type.Object({ id: Type.String(), email: Type.String(), name: Type.String(), country: Type.String(), role: Role, createdAt: Type.String() });

/**
 * The identity contract on the wire. Orders calls getUser; the rest is there so that a remote
 * client has the whole contract. Signing up and creating a key are not idempotent; a login issues
 * a fresh token and changes nothing, so it may be repeated; updateUser sets fields but is not
 * retried, to keep its `updated` semantics the caller's to decide.
 */
export const identityContract = defineContract<IdentityApi>()('identity', {
  signup: method({
    input: Type.Tuple([Type.Object({ email: Type.String(), password: Type.String(), name: Type.String(), country: Type.String() })]),
    output: Type.Object({ user: User, token: Type.String() }),
    idempotent: false,
  }),
  login: method({ input: Type.Tuple([Type.String(), Type.String()]), output: Type.Object({ token: Type.String(), expiresIn: Type.Number() }), idempotent: true }),
  getUser: method({ input: Type.Tuple([Type.String()]), output: Type.Union([User, Type.Null()]), idempotent: true }),
  updateUser: method({ input: Type.Tuple([Type.String(), Type.Object({ name: Type.Optional(Type.String()), country: Type.Optional(Type.String()) })]), output: User, idempotent: false }),
  createApiKey: method({
    input: Type.Tuple([Type.String(), Type.String(), Role]),
    output: Type.Object({ id: Type.String(), name: Type.String(), role: Role, key: Type.String() }),
    idempotent: false,
  }),
  resolveApiKey: method({
    input: Type.Tuple([Type.String()]),
    output: Type.Union([Type.Object({ subject: Type.String(), role: Role, via: Type.Union([Type.Literal('token'), Type.Literal('api-key')]) }), Type.Null()]),
    idempotent: true,
  }),
  importUsers: method({ input: Type.Tuple([Type.Array(Type.Object({ email: Type.String(), name: Type.String(), country: Type.String() })), Type.String()]), output: Type.Integer(), idempotent: true }),
  ensureAdmin: method({ input: Type.Tuple([Type.String(), Type.String()]), output: Type.Void(), idempotent: true }),
});
