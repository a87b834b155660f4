import { describe, expect, it } from 'vitest';
import { mergeDocuments, type OpenApiDocument } from './docs-merge.ts';

const SERVER = { url: '/', description: 'the gateway' };
/** As the gateway's routes: /api/v1/products to catalog, the rest of /api/v1 to rest, nothing else. */
const owner = (path: string) => (path.startsWith('/api/v1/products') ? 'catalog' : path.startsWith('/api/v1/') ? 'rest' : undefined);
const part = (pool: string, document: OpenApiDocument) => ({ pool, document, keeps: (p: string) => owner(p) === pool });
const ok = (ref?: string) => ({ responses: { 200: { description: 'ok', ...(ref ? { content: { 'application/json': { schema: { $ref: ref } } } } : {}) } } });

function doc(version: string, extra: Partial<OpenApiDocument> = {}): OpenApiDocument {
  return {
    openapi: '3.0.3',
    info: { title: 'Scalemart API', version },
    servers: [{ url: '/' }],
    tags: [{ name: 'catalog', description: `catalog ${version}` }, { name: 'orders' }],
    paths: {
      '/api/v1/products': { get: { operationId: 'listProducts', tags: ['catalog'], ...ok('#/components/schemas/Page') } },
      '/api/v1/orders': { get: { operationId: 'listOrders', tags: ['orders'], security: [{ bearer: [] }], ...ok('#/components/schemas/Order') } },
      '/internal/v1/inventory/reserve': { post: { operationId: 'reserve', ...ok() } },
    },
    components: {
      schemas: {
        Page: { type: 'object', properties: { items: { type: 'array', items: { $ref: '#/components/schemas/Product' } } } },
        Product: { type: 'object', properties: { id: { type: 'string' } } },
        Order: { type: 'object', properties: { id: { type: 'string' } } },
      },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    },
    ...extra,
  };
}

describe('mergeDocuments', () => {
  it('keeps from each pool only the paths routed to it, with the components and tags they use', () => {
    const { document, renamed } = mergeDocuments([part('catalog', doc('1')), part('rest', doc('1'))], SERVER);
    expect(Object.keys(document.paths!)).toEqual(['/api/v1/products', '/api/v1/orders']);
    expect(document.servers).toEqual([SERVER]);
    expect(document.info).toEqual({ title: 'Scalemart API', version: '1' });
    expect(Object.keys(document.components!.schemas!).toSorted()).toEqual(['Order', 'Page', 'Product']);
    expect(document.tags!.map((t) => t.name)).toEqual(['catalog', 'orders']);
    expect(renamed).toEqual([]);

    const catalogOnly = mergeDocuments([part('catalog', doc('1'))], SERVER).document;
    expect(Object.keys(catalogOnly.paths!)).toEqual(['/api/v1/products']);
    // Order and the bearer scheme are used only by paths that went elsewhere.
    expect(catalogOnly.components).toEqual({ schemas: { Page: doc('1').components!.schemas!.Page, Product: doc('1').components!.schemas!.Product } });
    expect(catalogOnly.tags).toEqual([{ name: 'catalog', description: 'catalog 1' }]);
  });

  it('renames a component two pools define differently, and the references that lead to it', () => {
    const rest = doc('2');
    const schemas = rest.components!.schemas!;
    schemas.Order = { type: 'object', properties: { id: { type: 'string' }, items: { type: 'array', items: { $ref: '#/components/schemas/Product' } } } };
    schemas.Product = { type: 'object', properties: { id: { type: 'string' }, sku: { type: 'string' } } };
    rest.components!.securitySchemes!.bearer = { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' };
    const catalog = doc('1');
    (catalog.paths!['/api/v1/products']!.get as Record<string, unknown>).security = [{ bearer: [] }];
    // Both pools' documents carry both paths; each keeps its own.
    const { document, renamed } = mergeDocuments([part('catalog', catalog), part('rest', rest)], SERVER);

    expect(renamed.toSorted()).toEqual(['components.schemas.Product → rest_Product', 'components.securitySchemes.bearer → rest_bearer']);
    const orders = document.paths!['/api/v1/orders']!.get as { security: unknown; responses: { 200: { content: { 'application/json': { schema: unknown } } } } };
    // Order existed only in rest: it keeps its name, pointing at rest's own Product.
    expect(orders.responses[200].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Order' });
    expect(document.components!.schemas!.Order).toMatchObject({ properties: { items: { items: { $ref: '#/components/schemas/rest_Product' } } } });
    expect(document.components!.schemas!.rest_Product).toEqual(schemas.Product);
    expect(document.components!.schemas!.Product).toEqual(doc('1').components!.schemas!.Product);
    expect(orders.security).toEqual([{ rest_bearer: [] }]);
    expect(document.paths!['/api/v1/products']!.get).toMatchObject({ security: [{ bearer: [] }] });
    expect(Object.keys(document.components!.securitySchemes!)).toEqual(['bearer', 'rest_bearer']);
  });

  it('renames a component that is alike by name and text but refers to a renamed one', () => {
    const catalog = doc('1');
    catalog.paths!['/api/v1/products']!.get = { operationId: 'listProducts', ...ok('#/components/schemas/Page') };
    const rest = doc('2');
    rest.paths!['/api/v1/orders']!.get = { operationId: 'listOrders', ...ok('#/components/schemas/Page') };
    rest.components!.schemas!.Product = { type: 'string' };
    const { document, renamed } = mergeDocuments([part('catalog', catalog), part('rest', rest)], SERVER);
    expect(renamed).toEqual(['components.schemas.Page → rest_Page', 'components.schemas.Product → rest_Product']);
    expect(document.components!.schemas!.rest_Page).toMatchObject({ properties: { items: { items: { $ref: '#/components/schemas/rest_Product' } } } });
    expect(document.components!.schemas!.Page).toMatchObject({ properties: { items: { items: { $ref: '#/components/schemas/Product' } } } });
  });

  it('keeps operation ids unique, and moves a document-wide security onto the operations', () => {
    const rest = doc('1', { security: [{ bearer: [] }] });
    rest.paths!['/api/v1/orders']!.get = { operationId: 'listProducts', ...ok() };
    const { document, renamed } = mergeDocuments([part('catalog', doc('1')), part('rest', rest)], SERVER);
    expect(document.paths!['/api/v1/orders']!.get).toMatchObject({ operationId: 'rest_listProducts', security: [{ bearer: [] }] });
    expect(document.paths!['/api/v1/products']!.get).toMatchObject({ operationId: 'listProducts' });
    expect(document.paths!['/api/v1/products']!.get).not.toHaveProperty('security');
    expect(document).not.toHaveProperty('security');
    expect(renamed).toEqual(['operationId listProducts of GET /api/v1/orders → rest_listProducts']);
  });

  it('fails when a renamed component\'s new name is taken by something else', () => {
    const catalog = doc('1');
    catalog.components!.schemas!.rest_Product = { type: 'number' };
    const rest = doc('1');
    rest.paths!['/api/v1/orders']!.get = { operationId: 'listOrders', ...ok('#/components/schemas/Product') };
    rest.components!.schemas!.Product = { type: 'string' };
    catalog.components!.schemas!.Product = { type: 'boolean' };
    catalog.paths!['/api/v1/products']!.get = { operationId: 'listProducts', ...ok('#/components/schemas/Product') };
    catalog.paths!['/api/v1/products/{id}'] = { get: { operationId: 'getProduct', ...ok('#/components/schemas/rest_Product') } };
    expect(() => mergeDocuments([part('catalog', catalog), part('rest', rest)], SERVER)).toThrow(/components\.schemas\.Product of pool rest differs from another pool's, and rest_Product is taken too/);
  });
});
