import { Faker, base, en } from '@faker-js/faker';
import type { NewProduct } from '../../modules/catalog/contract.ts';
import { uuid7 } from '../../platform/ids/uuid7.ts';

export interface GeneratedProduct extends NewProduct {
  id: string;
  stock: number;
}

/**
 * A plausible catalog, the same for a given seed: names, departments as categories, prices with
 * realistic endings, and stock that is mostly healthy with some low and some sold out.
 */
export function createCatalogGenerator(seed = 42) {
  const faker = new Faker({ locale: [en, base] });
  faker.seed(seed);
  const categories = Array.from(new Set(Array.from({ length: 200 }, () => faker.commerce.department()))).sort();

  function stock(): number {
    const roll = faker.number.float();
    if (roll < 0.05) return 0;
    if (roll < 0.15) return faker.number.int({ min: 1, max: 5 });
    return faker.number.int({ min: 6, max: 500 });
  }

  return {
    categories,
    product(index: number): GeneratedProduct {
      const dollars = faker.number.int({ min: 1, max: 999 });
      const cents = faker.helpers.arrayElement([0, 49, 95, 99]);
      return {
        id: uuid7(),
        sku: `SKU-${String(index + 1).padStart(7, '0')}`,
        name: faker.commerce.productName(),
        description: faker.commerce.productDescription(),
        category: faker.helpers.arrayElement(categories),
        price: dollars * 100 + cents,
        currency: 'USD',
        stock: stock(),
      };
    },
    user(index: number): { email: string; name: string; country: string } {
      const first = faker.person.firstName();
      const last = faker.person.lastName();
      return {
        email: `${first}.${last}.${index}@example.com`.toLowerCase().replace(/[^a-z0-9.@]/g, ''),
        name: `${first} ${last}`,
        country: faker.location.countryCode('alpha-2'),
      };
    },
  };
}
