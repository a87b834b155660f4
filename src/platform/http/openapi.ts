import type { FastifyDynamicSwaggerOptions, SwaggerTransform } from '@fastify/swagger';

/**
 * The tags the routes use, declared once with what each groups, so the document explains its own
 * sections. A route's `tags` should name one of these.
 */
const TAGS = [
  { name: 'identity', description: 'Sign-up, login, your profile, API keys' },
  { name: 'catalog', description: 'Products, prices, popularity' },
  { name: 'inventory', description: 'Stock levels' },
  { name: 'orders', description: 'Placing, following and cancelling orders; invoices; admin views over every order' },
  { name: 'storefront', description: 'Pages aggregated from several modules in one call' },
  { name: 'events', description: 'Dead letters and replays of the event log (admin)' },
];

interface QuerySchema { properties?: Record<string, { default?: unknown }>; required?: string[] }

/**
 * A query parameter with a default (`limit`) is required of the handler, which always sees it, but
 * not of the client: validation fills it in. The document states the client's view, so a generated
 * client does not force every caller to send it. Route schemas are copied, never changed.
 */
const defaultedQueryIsOptional: SwaggerTransform = ({ schema, url }) => {
  const query = schema?.querystring as QuerySchema | undefined;
  if (!query?.required || !query.properties) return { schema, url };
  const properties = query.properties;
  const required = query.required.filter((name) => properties[name]?.default === undefined);
  return { schema: { ...schema, querystring: { ...query, required } }, url };
};

/**
 * The options of the OpenAPI document every process serves at `/docs/json`: its document-level
 * part here, its operations from the route schemas. Each operation names an `operationId` in its
 * schema (a lowerCamelCase verb and noun, e.g. `placeOrder`): client generators name their methods
 * after it, so it is chosen by hand and never changes once published. test/openapi/ fails when one
 * is missing or repeated.
 */
export function openApiOptions(version: string): FastifyDynamicSwaggerOptions {
  return {
    openapi: {
      info: {
        title: 'Scalemart API',
        version,
        description: 'The public contract of ../shared/API.md.',
        license: { name: 'MIT', url: 'https://opensource.org/license/mit' },
      },
      // Relative: the document describes the origin that served it, whether a client reaches this
      // process directly or through a gateway. Paths carry their `/api/v1` prefix themselves.
      servers: [{ url: '/', description: 'the origin that served this document' }],
      tags: TAGS,
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A token from POST /api/v1/auth/login or /auth/signup' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'A machine client\'s key from POST /api/v1/admin/api-keys' },
        },
      },
    },
    transform: defaultedQueryIsOptional,
  };
}
