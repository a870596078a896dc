import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FormatsPlugin } from 'ajv-formats';
import type { InputIssue } from '../errors.js';
import { escapePointer } from '../util/json-pointer.js';
import type { JsonSchema } from './types.js';

// ajv-formats is CommonJS whose export is also its own `default`; depending on the interop
// (Node ESM, esbuild CJS) the import is the plugin or an object holding it.
const addFormats: FormatsPlugin =
  (addFormatsModule as unknown as { default?: FormatsPlugin }).default ?? (addFormatsModule as unknown as FormatsPlugin);

/** Checks a value against a compiled schema: undefined when valid, else the issues. */
export type SchemaCheck = (value: unknown) => InputIssue[] | undefined;

// Strict, except that extension keywords (`x-…`, like MCP's `x-mcp-header`) and `$anchor`
// are annotations: every other unknown keyword still fails compilation.
const ALLOWED_UNKNOWN = /unknown keyword: "(?:x-[^"]*|\$anchor)"/;
const strictLogger = {
  log() {},
  warn(message: unknown) {
    if (!ALLOWED_UNKNOWN.test(String(message))) throw new Error(String(message));
  },
  error(message: unknown) {
    throw new Error(String(message));
  },
};

const AJV_OPTIONS = {
  // Each tool's schema is compiled on its own: a `$id` must not register it for the next
  // compilation (a second tool, or the same tool reloaded, with that `$id` would not compile).
  addUsedSchema: false,
  strict: true,
  strictSchema: 'log',
  logger: strictLogger,
  strictTypes: false,
  strictRequired: false,
  strictTuples: false,
  allErrors: true,
  coerceTypes: false,
  useDefaults: false,
  removeAdditional: false,
  validateFormats: true,
} as const;

/**
 * The names every object inherits from `Object.prototype`. ajv reads a property as `data.name`,
 * so a schema naming one of them (`properties: { valueOf: … }`, `required: ['constructor']`)
 * would see the inherited member where the input has none: an optional one would fail its
 * type, a required one would pass while absent.
 */
const INHERITED_NAMES = Object.getOwnPropertyNames(Object.prototype);

/** True when the schema's text holds one of {@link INHERITED_NAMES} as a string (over-approximates: any place, not only property names). */
function namesInheritedMember(schema: JsonSchema): boolean {
  const text = JSON.stringify(schema);
  return INHERITED_NAMES.some((name) => text.includes(`"${name}"`));
}

/**
 * Compiles JSON Schemas (2020-12 by default, draft-07 when `$schema` says so) with ajv in
 * strict mode and without type coercion. One compiler per gateway; compile once per tool
 * version, at registration, never per call. A schema that names a member every object
 * inherits (`valueOf`, `constructor`, …) is compiled to look at the input's own properties
 * only, which costs its calls a little more; other schemas are not.
 */
export function createSchemaCompiler(): { compile(schema: JsonSchema, where: string): SchemaCheck } {
  const compilers = new Map<string, Ajv>();
  const compilerFor = (draft7: boolean, ownProperties: boolean): Ajv => {
    const key = `${draft7} ${ownProperties}`;
    let ajv = compilers.get(key);
    if (ajv === undefined) {
      const options = ownProperties ? { ...AJV_OPTIONS, ownProperties: true } : AJV_OPTIONS;
      ajv = draft7 ? new Ajv(options) : new Ajv2020(options);
      addFormats(ajv);
      compilers.set(key, ajv);
    }
    return ajv;
  };
  return {
    compile(schema, where) {
      const dialect = typeof schema.$schema === 'string' ? schema.$schema : '';
      const ajv = compilerFor(dialect.includes('draft-07') || dialect.includes('draft-06'), namesInheritedMember(schema));
      let validate: ValidateFunction;
      try {
        validate = ajv.compile(schema);
      } catch (error) {
        throw new TypeError(`${where}: invalid JSON Schema: ${(error as Error).message}`);
      }
      return (value) => (validate(value) ? undefined : toIssues(validate.errors ?? []));
    },
  };
}

function toIssues(errors: ErrorObject[]): InputIssue[] {
  return errors.slice(0, 50).map((error) => {
    const params = error.params as { missingProperty?: string; additionalProperty?: string };
    const extra = params.missingProperty ?? params.additionalProperty;
    const path = extra === undefined ? error.instancePath : `${error.instancePath}/${escapePointer(extra)}`;
    const message =
      error.keyword === 'additionalProperties'
        ? 'must not have additional properties'
        : error.keyword === 'required'
          ? 'is required'
          : (error.message ?? 'is invalid');
    return { path, message };
  });
}
