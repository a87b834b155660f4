import type { Queryable } from '../../platform/db/database.ts';
import type { Role } from '../../platform/auth/principal.ts';
import type { User } from './contract.ts';

interface UserRow {
  id: string;
  email: string;
  password_hash: string;
  name: string;
  country: string;
  role: Role;
  created_at: Date | string;
}

export interface StoredUser extends User {
  passwordHash: string;
}

const toUser = (row: UserRow): StoredUser => ({
  id: row.id,
  email: row.email,
  name: row.name,
  country: row.country,
  role: row.role,
  createdAt: new Date(row.created_at).toISOString(),
  passwordHash: row.password_hash,
});

export function createIdentityRepository(db: Queryable) {
  return {
    async insertUser(user: Omit<StoredUser, 'createdAt'>): Promise<StoredUser> {
      const { rows } = await db.query<UserRow>(
        `insert into identity.users (id, email, password_hash, name, country, role) values ($1, $2, $3, $4, $5, $6) returning *`,
        [user.id, user.email, user.passwordHash, user.name, user.country, user.role],
      );
      return toUser(rows[0]!);
    },
    async findByEmail(email: string): Promise<StoredUser | null> {
      const { rows } = await db.query<UserRow>('select * from identity.users where lower(email) = lower($1)', [email]);
      return rows[0] ? toUser(rows[0]) : null;
    },
    /**
     * The account a login checks, read on the primary: a replica behind a new account, a password
     * change or a role change would answer with the old state. `for share` is what routes the
     * statement to the primary (it is not read-only); the lock ends with the statement.
     */
    async findCredentials(email: string): Promise<StoredUser | null> {
      const { rows } = await db.query<UserRow>('select * from identity.users where lower(email) = lower($1) for share', [email]);
      return rows[0] ? toUser(rows[0]) : null;
    },
    async findById(id: string): Promise<StoredUser | null> {
      const { rows } = await db.query<UserRow>('select * from identity.users where id = $1', [id]);
      return rows[0] ? toUser(rows[0]) : null;
    },
    async update(id: string, changes: { name?: string; country?: string }): Promise<StoredUser | null> {
      const { rows } = await db.query<UserRow>(
        `update identity.users set name = coalesce($2, name), country = coalesce($3, country), updated_at = now()
         where id = $1 returning *`,
        [id, changes.name ?? null, changes.country ?? null],
      );
      return rows[0] ? toUser(rows[0]) : null;
    },
    async insertMany(users: readonly { id: string; email: string; name: string; country: string }[], passwordHash: string): Promise<number> {
      const { rowCount } = await db.query(
        `insert into identity.users (id, email, name, country, password_hash)
         select *, $5 from unnest($1::text[], $2::text[], $3::text[], $4::text[])
         on conflict do nothing`,
        [users.map((u) => u.id), users.map((u) => u.email), users.map((u) => u.name), users.map((u) => u.country), passwordHash],
      );
      return rowCount;
    },
    async promote(email: string, passwordHash: string): Promise<void> {
      await db.query(`update identity.users set role = 'admin', password_hash = $2, updated_at = now() where lower(email) = lower($1)`, [email, passwordHash]);
    },
    async insertApiKey(key: { id: string; ownerId: string; name: string; keyHash: string; role: Role }): Promise<void> {
      await db.query('insert into identity.api_keys (id, owner_id, name, key_hash, role) values ($1, $2, $3, $4, $5)', [
        key.id, key.ownerId, key.name, key.keyHash, key.role,
      ]);
    },
    async findApiKey(keyHash: string): Promise<{ id: string; role: Role } | null> {
      const { rows } = await db.query<{ id: string; role: Role }>(
        'select id, role from identity.api_keys where key_hash = $1 and revoked_at is null',
        [keyHash],
      );
      return rows[0] ?? null;
    },
  };
}

export type IdentityRepository = ReturnType<typeof createIdentityRepository>;
