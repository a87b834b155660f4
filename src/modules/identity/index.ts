import type { TokenService } from '../../platform/auth/tokens.ts';
import type { Cache } from '../../platform/cache/cache.ts';
import type { Database } from '../../platform/db/database.ts';
import type { HttpApp } from '../../platform/http/create-app.ts';
import type { IdentityApi } from './contract.ts';
import { createIdentityRepository } from './identity.repository.ts';
import { identityMigrations } from './identity.schema.ts';
import { registerIdentityRoutes } from './identity.routes.ts';
import { createIdentityService } from './identity.service.ts';

export interface IdentityModule {
  name: 'identity';
  migrations: typeof identityMigrations;
  api: IdentityApi;
  registerRoutes(app: HttpApp): void;
}

export function createIdentityModule(deps: { db: Database; tokens: TokenService; cache: Cache }): IdentityModule {
  const api = createIdentityService(createIdentityRepository(deps.db), deps.tokens, deps.cache);
  return {
    name: 'identity',
    migrations: identityMigrations,
    api,
    registerRoutes: (app) => registerIdentityRoutes(app, api),
  };
}
