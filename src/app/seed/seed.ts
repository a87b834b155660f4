import type { CatalogApi } from '../../modules/catalog/contract.ts';
import type { IdentityApi } from '../../modules/identity/contract.ts';
import type { InventoryApi } from '../../modules/inventory/contract.ts';
import { createCatalogGenerator } from './catalog-generator.ts';

export interface SeedOptions {
  products: number;
  users: number;
  /** Password every seeded user shares (demo data only). */
  userPassword: string;
  batchSize?: number;
  seed?: number;
  onProgress?: (kind: 'products' | 'users', done: number, total: number) => void;
}

export interface SeedTargets {
  catalog: CatalogApi;
  inventory: InventoryApi;
  identity: IdentityApi;
}

/** Loads a generated catalog, its stock and users through the modules' own bulk operations. */
export async function seed(targets: SeedTargets, options: SeedOptions): Promise<{ products: number; users: number }> {
  const generator = createCatalogGenerator(options.seed);
  const batchSize = options.batchSize ?? 2_000;
  const offset = await targets.catalog.countProducts();
  for (let done = 0; done < options.products; done += batchSize) {
    const batch = Array.from({ length: Math.min(batchSize, options.products - done) }, (_, i) => generator.product(offset + done + i));
    await targets.catalog.importProducts(batch);
    await targets.inventory.importStock(batch.map((p) => ({ sku: p.sku, available: p.stock })));
    options.onProgress?.('products', done + batch.length, options.products);
  }
  let users = 0;
  for (let done = 0; done < options.users; done += batchSize) {
    const batch = Array.from({ length: Math.min(batchSize, options.users - done) }, (_, i) => generator.user(done + i));
    users += await targets.identity.importUsers(batch, options.userPassword);
    options.onProgress?.('users', done + batch.length, options.users);
  }
  return { products: options.products, users };
}
