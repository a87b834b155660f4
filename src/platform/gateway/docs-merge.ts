/** An OpenAPI 3 document, as far as the merge reads it; everything else is carried as is. */
type Tag = { name: string } & Record<string, unknown>;

export interface OpenApiDocument {
  openapi: string;
  info: Record<string, unknown>;
  servers?: Array<{ url: string; description?: string }>;
  paths?: Record<string, Record<string, unknown>>;
  components?: Record<string, Record<string, unknown>>;
  tags?: Tag[];
  security?: SecurityRequirement[];
  [extension: string]: unknown;
}

type SecurityRequirement = Record<string, string[]>;

/** One pool's document and which of its paths the gateway sends to that pool. */
export interface DocumentPart {
  pool: string;
  document: OpenApiDocument;
  keeps(path: string): boolean;
}

export interface MergedDocument {
  document: OpenApiDocument;
  /** What was renamed to keep names unique, e.g. `components.schemas.Product → catalog_Product`. */
  renamed: string[];
}

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
const REF = /^#\/components\/([^/]+)\/([^/]+)$/;

/** JSON with sorted keys: two components are the same when this is. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const entries = Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/** Calls `visit` with every `#/components/…` reference inside `value`, and every security requirement's scheme. */
function references(value: unknown, visit: (section: string, name: string) => void): void {
  if (Array.isArray(value)) return value.forEach((v) => references(v, visit));
  if (value === null || typeof value !== 'object') return;
  for (const [key, v] of Object.entries(value)) {
    if (key === '$ref' && typeof v === 'string') {
      const m = REF.exec(v);
      if (m) visit(m[1]!, m[2]!);
    } else if (key === 'security' && Array.isArray(v)) {
      for (const requirement of v as SecurityRequirement[]) for (const scheme of Object.keys(requirement)) visit('securitySchemes', scheme);
    } else {
      references(v, visit);
    }
  }
}

/** A copy of `value` with references (and security requirements) to renamed components pointed at their new names. */
function rewrite(value: unknown, renames: ReadonlyMap<string, string>): unknown {
  if (renames.size === 0) return value;
  if (Array.isArray(value)) return value.map((v) => rewrite(v, renames));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const m = key === '$ref' && typeof v === 'string' ? REF.exec(v) : null;
    if (m) {
      out[key] = `#/components/${m[1]}/${renames.get(`${m[1]}/${m[2]}`) ?? m[2]}`;
    } else if (key === 'security' && Array.isArray(v)) {
      out[key] = (v as SecurityRequirement[]).map((r) => Object.fromEntries(Object.entries(r).map(([s, scopes]) => [renames.get(`securitySchemes/${s}`) ?? s, scopes])));
    } else {
      out[key] = rewrite(v, renames);
    }
  }
  return out;
}

/**
 * Merges the pools' documents into one: each part keeps only the paths `keeps` accepts, with the
 * components they reach (through `$ref`s, transitively, and security requirements) and the tags
 * they use. A component name two parts define alike is kept once; defined differently, the later
 * part's is renamed `<pool>_<name>` and its references follow, so every operation still means
 * what its service says. A repeated operationId is renamed the same way. A document-wide
 * `security` moves onto the part's operations that state none. `info` and `openapi` come from the
 * first part; `servers` is the gateway.
 */
export function mergeDocuments(parts: DocumentPart[], server: { url: string; description: string }): MergedDocument {
  if (parts.length === 0) throw new Error('no document to merge');
  const paths: Record<string, Record<string, unknown>> = {};
  const components: Record<string, Record<string, unknown>> = {};
  const tagDefinitions = new Map<string, Tag>();
  const usedTags = new Set<string>();
  const operationIds = new Set<string>();
  const renamed: string[] = [];

  for (const { pool, document, keeps } of parts) {
    for (const tag of document.tags ?? []) if (!tagDefinitions.has(tag.name)) tagDefinitions.set(tag.name, tag);
    const kept = Object.entries(document.paths ?? {}).filter(([path]) => keeps(path));
    const own = document.components ?? {};

    // The components these paths reach, following references inside components too.
    const reached = new Set<string>();
    const reach = (section: string, name: string) => {
      const key = `${section}/${name}`;
      if (reached.has(key) || own[section]?.[name] === undefined) return;
      reached.add(key);
      references(own[section][name], reach);
    };
    for (const [, item] of kept) references(item, reach);
    if (document.security) references({ security: document.security }, reach);

    // Rename until stable: a component that refers to a renamed one differs from its namesake too.
    const renames = new Map<string, string>();
    for (let changed = true; changed;) {
      changed = false;
      for (const key of reached) {
        const [section, name] = key.split('/') as [string, string];
        const existing = components[section]?.[name];
        if (renames.has(key) || existing === undefined) continue;
        if (canonical(rewrite(own[section]![name], renames)) === canonical(existing)) continue;
        renames.set(key, `${pool}_${name}`);
        changed = true;
      }
    }
    for (const key of reached) {
      const [section, name] = key.split('/') as [string, string];
      const target = renames.get(key) ?? name;
      const content = rewrite(own[section]![name], renames);
      const existing = components[section]?.[target];
      if (existing !== undefined && canonical(existing) !== canonical(content)) {
        throw new Error(`components.${section}.${name} of pool ${pool} differs from another pool's, and ${target} is taken too`);
      }
      if (target !== name) renamed.push(`components.${section}.${name} → ${target}`);
      (components[section] ??= {})[target] = content;
    }

    for (const [path, item] of kept) {
      const copy = rewrite(item, renames) as Record<string, Record<string, unknown>>;
      for (const [method, operation] of Object.entries(copy)) {
        if (!METHODS.has(method)) continue;
        if (document.security && operation.security === undefined) operation.security = rewrite(document.security, renames);
        for (const tag of (operation.tags as string[] | undefined) ?? []) usedTags.add(tag);
        const id = operation.operationId as string | undefined;
        if (id === undefined) continue;
        if (operationIds.has(id)) {
          if (operationIds.has(`${pool}_${id}`)) throw new Error(`operationId ${id} of pool ${pool} is repeated, and ${pool}_${id} is taken too`);
          operation.operationId = `${pool}_${id}`;
          renamed.push(`operationId ${id} of ${method.toUpperCase()} ${path} → ${pool}_${id}`);
        }
        operationIds.add(operation.operationId as string);
      }
      paths[path] = copy;
    }
  }

  const first = parts[0]!.document;
  const tags = [...tagDefinitions.values()].filter((t) => usedTags.has(t.name));
  const document: OpenApiDocument = { openapi: first.openapi, info: first.info, servers: [server], paths };
  if (Object.keys(components).length > 0) document.components = components;
  if (tags.length > 0) document.tags = tags;
  return { document, renamed };
}
