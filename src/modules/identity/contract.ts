import type { Principal, Role } from '../../platform/auth/principal.ts';

/** A user as other modules and clients see it: never with a password hash. */
export interface User {
  id: string;
  email: string;
  name: string;
  /** ISO 3166-1 alpha-2. */
  country: string;
  role: Role;
  createdAt: string;
}

export interface SignupInput {
  email: string;
  password: string;
  name: string;
  country: string;
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
}

export interface IdentityApi {
  /** Throws EMAIL_TAKEN when the email is registered. */
  signup(input: SignupInput): Promise<{ user: User; token: string }>;
  /** Throws INVALID_CREDENTIALS for an unknown email or a wrong password alike. */
  login(email: string, password: string): Promise<IssuedToken>;
  getUser(id: string): Promise<User | null>;
  updateUser(id: string, changes: { name?: string; country?: string }): Promise<User>;
  /** Creates an API key for machine clients; the key is returned once and stored hashed. */
  createApiKey(ownerId: string, name: string, role: Role): Promise<{ id: string; name: string; role: Role; key: string }>;
  resolveApiKey(keyHash: string): Promise<Principal | null>;
  /** Bulk load for seeding: every user gets the same password (hashed once); existing emails are skipped. */
  importUsers(users: readonly { email: string; name: string; country: string }[], password: string): Promise<number>;
  /** Makes sure the configured first admin exists (idempotent). */
  ensureAdmin(email: string, password: string): Promise<void>;
}

export const IdentityErrorCodes = {
  emailTaken: 'EMAIL_TAKEN',
  invalidCredentials: 'INVALID_CREDENTIALS',
} as const;
