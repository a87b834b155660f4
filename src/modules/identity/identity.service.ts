import { DomainError } from '../../platform/errors/domain-error.ts';
import { DECOY_HASH, hashPassword, verifyPassword } from '../../platform/auth/passwords.ts';
import { generateApiKey, hashApiKey, type TokenService } from '../../platform/auth/tokens.ts';
import type { Cache } from '../../platform/cache/cache.ts';
import { sqlStateOf, SqlState } from '../../platform/db/database.ts';
import { uuid7 } from '../../platform/ids/uuid7.ts';
import { IdentityErrorCodes, type IdentityApi, type User } from './contract.ts';
import type { IdentityRepository, StoredUser } from './identity.repository.ts';

const publicUser = ({ passwordHash: _hidden, ...user }: StoredUser): User => user;

const emailTaken = () => new DomainError('conflict', IdentityErrorCodes.emailTaken, 'An account with this email already exists.');

/** Profiles are cache-aside (read on every order and every `GET /users/me`) and written through on change. */
export function createIdentityService(repository: IdentityRepository, tokens: TokenService, cache: Cache): IdentityApi {
  const profiles = cache.namespace('identity:v1:user');
  return {
    async signup(input) {
      if (await repository.findByEmail(input.email)) throw emailTaken();
      const stored = await repository
        .insertUser({
          id: uuid7(),
          email: input.email.toLowerCase(),
          passwordHash: await hashPassword(input.password),
          name: input.name,
          country: input.country.toUpperCase(),
          role: 'customer',
        })
        .catch((error: unknown) => {
          // Two signups racing for one email: the unique index decides.
          throw sqlStateOf(error) === SqlState.uniqueViolation ? emailTaken() : error;
        });
      const { token } = await tokens.issue(stored.id, stored.role);
      return { user: publicUser(stored), token };
    },

    async login(email, password) {
      const stored = await repository.findCredentials(email);
      const valid = await verifyPassword(password, stored?.passwordHash ?? DECOY_HASH);
      if (!stored || !valid) {
        throw new DomainError('unauthenticated', IdentityErrorCodes.invalidCredentials, 'The email or password is wrong.');
      }
      return tokens.issue(stored.id, stored.role);
    },

    getUser: (id) => profiles.getOrSet(id, async () => {
      const stored = await repository.findById(id);
      return stored ? publicUser(stored) : null;
    }),

    async updateUser(id, changes) {
      const stored = await repository.update(id, { ...changes, country: changes.country?.toUpperCase() });
      if (!stored) throw new DomainError('not_found', 'NOT_FOUND', 'No such user.');
      const user = publicUser(stored);
      await profiles.set(id, user);
      return user;
    },

    async createApiKey(ownerId, name, role) {
      const key = generateApiKey();
      const id = uuid7();
      await repository.insertApiKey({ id, ownerId, name, keyHash: hashApiKey(key), role });
      return { id, name, role, key };
    },

    async resolveApiKey(keyHash) {
      const found = await repository.findApiKey(keyHash);
      return found ? { subject: found.id, role: found.role, via: 'api-key' } : null;
    },

    async importUsers(users, password) {
      const passwordHash = await hashPassword(password);
      return repository.insertMany(users.map((u) => ({ ...u, id: uuid7(), email: u.email.toLowerCase(), country: u.country.toUpperCase() })), passwordHash);
    },

    async ensureAdmin(email, password) {
      const passwordHash = await hashPassword(password);
      const existing = await repository.findByEmail(email);
      if (existing) {
        await repository.promote(email, passwordHash);
        await profiles.delete(existing.id);
        return;
      }
      await repository.insertUser({ id: uuid7(), email: email.toLowerCase(), passwordHash, name: 'Administrator', country: 'US', role: 'admin' });
    },
  };
}
