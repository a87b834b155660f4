export const ROLES = ['customer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: a person through a token, or a machine client through an API key. */
export interface Principal {
  subject: string;
  role: Role;
  via: 'token' | 'api-key';
}

/** Looks an API key's hash up; provided by the identity module through the composition root. */
export type ApiKeyResolver = (keyHash: string) => Promise<Principal | null>;
