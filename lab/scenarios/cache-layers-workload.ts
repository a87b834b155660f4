import { productPath } from '../targets/scalemart.ts';
import { createRandom, createZipf, seededShuffle, type Random } from '../workload/zipf.ts';

export const ZIPF_EXPONENT = 1.0;
/** Category pages a shopper goes through, page 1 the most visited (Zipf over the page number too). */
const PAGES_PER_CATEGORY = 5;
const PAGE_SIZE = 20;

/**
 * The read side of BENCHMARKS.md's browse-heavy mix (browse 10 : product 6 : home 2 : order 1 :
 * history 1), in eighteenths: category pages 7 and search 3 (browse), product detail 6, home 2.
 * Orders and order history are left out: they are writes and personal reads no cache layer serves,
 * and an order's saga keeps working in the background, which would spill into the next variant's
 * measurement on a two-core machine.
 */
export const MIX = { category: 7, search: 3, product: 6, home: 2 } as const;

export interface BrowseWorkload {
  /** Every product's page, in a seeded order: Zipf rank r is products[r]. */
  products: string[];
  /** Per category (seeded order), its first pages in page order. */
  categoryPages: string[][];
  /** First search page per word of the product names (seeded order). */
  searches: string[];
  home: string;
}

interface ListItem {
  id: string;
  name: string;
  category: string;
}
interface ListPage {
  items: ListItem[];
  nextCursor: string | null;
}

async function getPage(origin: string, path: string): Promise<ListPage> {
  const response = await fetch(`${origin}${path}`);
  if (response.status !== 200) throw new Error(`GET ${path}: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as ListPage;
}

const listPath = (filter: string, cursor: string | null) =>
  `/api/v1/products?${filter}limit=${PAGE_SIZE}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;

/**
 * Walks the whole catalog through the public listing (ids are opaque), then the first pages of
 * every category for their cursors. Run against the uncached target, so no cache starts warm.
 */
export async function collectBrowseWorkload(origin: string, seed: number): Promise<BrowseWorkload> {
  const random = createRandom(seed ^ 0xb40e5e);
  const products: string[] = [];
  const categories = new Set<string>();
  const words = new Set<string>();
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
    const page = await getPage(origin, `/api/v1/products?limit=100${query}`);
    for (const item of page.items) {
      products.push(productPath(item.id));
      categories.add(item.category);
      for (const word of item.name.toLowerCase().split(/[^a-z0-9]+/)) if (word.length > 2) words.add(word);
    }
    cursor = page.nextCursor;
  } while (cursor !== null);
  if (products.length === 0) throw new Error('cache-layers: the catalog lists no products');

  const categoryPages: string[][] = [];
  for (const category of [...categories].sort()) {
    const pages: string[] = [];
    let next: string | null = null;
    do {
      const path = listPath(`category=${encodeURIComponent(category)}&`, next);
      pages.push(path);
      next = (await getPage(origin, path)).nextCursor;
    } while (next !== null && pages.length < PAGES_PER_CATEGORY);
    categoryPages.push(pages);
  }
  return {
    products: seededShuffle(products, random),
    categoryPages: seededShuffle(categoryPages, random),
    searches: seededShuffle([...words].sort().map((word) => listPath(`q=${encodeURIComponent(word)}&`, null)), random),
    home: listPath('', null),
  };
}

/**
 * Makes a fresh request sequence, the same on every call for a seed: the request kind by the mix,
 * then the product, category, page and search word each by Zipf(1.0) rank.
 */
export function browseSequence(workload: BrowseWorkload, seed: number): () => () => string {
  const total = MIX.category + MIX.search + MIX.product + MIX.home;
  return () => {
    const random: Random = createRandom(seed);
    const product = createZipf(workload.products.length, ZIPF_EXPONENT, random);
    const category = createZipf(workload.categoryPages.length, ZIPF_EXPONENT, random);
    const page = createZipf(PAGES_PER_CATEGORY, ZIPF_EXPONENT, random);
    const search = createZipf(workload.searches.length, ZIPF_EXPONENT, random);
    return () => {
      const slot = random() * total;
      if (slot < MIX.category) {
        const pages = workload.categoryPages[category()]!;
        return pages[Math.min(page(), pages.length - 1)]!;
      }
      if (slot < MIX.category + MIX.search) return workload.searches[search()]!;
      if (slot < MIX.category + MIX.search + MIX.product) return workload.products[product()]!;
      return workload.home;
    };
  };
}
