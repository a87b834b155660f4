import { Ajv, type ErrorObject } from 'ajv';
import * as ajvFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import type { FieldIssue } from '../errors/domain-error.ts';

// ajv-formats is CommonJS with `exports.default`; under Node's ESM loader the function sits one level down.
const addFormats = ajvFormats.default as unknown as (ajv: Ajv) => Ajv;

function createAjv(coerceTypes: boolean): Ajv {
  // removeAdditional stays off: an unknown field is an error the client should hear about,
  // not something silently dropped.
  const ajv = new Ajv({ allErrors: true, coerceTypes, removeAdditional: false, useDefaults: true, strict: false });
  addFormats(ajv);
  return ajv;
}

/**
 * Bodies are validated strictly (a string is not a number); path and query strings are coerced,
 * since on the wire they are always strings.
 */
export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = createAjv(false);
  const coercing = createAjv(true);
  return ({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema as object);
}

/** Turns ajv errors into field-level issues: `items.0.quantity`, `email`, `(body)`. */
export function fieldIssues(errors: readonly Partial<ErrorObject>[], part: string | undefined): FieldIssue[] {
  return errors.map((error) => {
    const segments = (error.instancePath ?? '').split('/').filter(Boolean);
    const params = (error.params ?? {}) as Record<string, unknown>;
    const extra = params.missingProperty ?? params.additionalProperty;
    if (typeof extra === 'string') segments.push(extra);
    const field = segments.join('.') || `(${part ?? 'body'})`;
    const message = params.additionalProperty ? 'is not an allowed field' : (error.message ?? 'is invalid');
    return { field, message };
  });
}
