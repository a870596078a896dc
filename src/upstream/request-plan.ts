import { GatewayError } from '../errors.js';
import type { HttpMethod, HttpToolDefinition, InputField } from '../tools/http-tool.js';
import { setOwnMember } from '../util/own-member.js';
import { compileUrlTemplate, invalidField, queryNameKey, type UrlTemplate } from './url-template.js';

/** The request an HTTP tool sends for one input, before secret headers are added. */
export interface PlannedRequest {
  method: HttpMethod;
  /** Path and query, ready for the origin: `/customers/c-42/orders?limit=10`. */
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** How an HTTP tool turns input into a request; compiled once per definition. */
export interface RequestPlan {
  readonly template: UrlTemplate;
  readonly method: HttpMethod;
  /** Lower-case names of the headers the definition sets (static and secret). */
  readonly configuredHeaders: ReadonlySet<string>;
  /** Builds the request; throws `INVALID_INPUT` for input that cannot be placed safely. */
  build(input: Readonly<Record<string, unknown>>): PlannedRequest;
}

/** Methods that carry their input in the query by default. */
const QUERY_METHODS: ReadonlySet<HttpMethod> = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);
/** Methods that never carry a body. */
const BODYLESS_METHODS: ReadonlySet<HttpMethod> = new Set(['GET', 'HEAD']);

/** Header names no definition may set: the URL decides the host, the client decides the framing. */
export const FORBIDDEN_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'te',
  'trailer',
  'expect',
]);

/** Header names input can never fill (on top of every configured header). */
export const INPUT_FORBIDDEN_HEADERS: ReadonlySet<string> = new Set([
  ...FORBIDDEN_HEADERS,
  'authorization',
  'proxy-authorization',
  'cookie',
  'content-type',
  'accept-encoding',
]);

/** RFC 9110 token: what a header name may consist of. */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What a header value placed by the gateway may contain: printable ASCII and space, no control characters. */
export const SAFE_HEADER_VALUE = /^[\x20-\x7e]*$/;
const MAX_INPUT_HEADER_LENGTH = 8192;

const DEFAULT_HEADERS: Readonly<Record<string, string>> = {
  accept: 'application/json, text/*;q=0.9, */*;q=0.8',
  'accept-encoding': 'gzip, deflate, br',
  'user-agent': 'agent-tool-gateway',
};

function encodeQueryPart(text: string): string {
  return encodeURIComponent(text);
}

function queryValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value) ?? '';
}

function appendQuery(parts: string[], field: string, value: unknown): void {
  if (value === undefined || value === null) return;
  const name = encodeQueryPart(field);
  try {
    if (Array.isArray(value)) {
      for (const element of value) {
        if (element !== undefined && element !== null) parts.push(`${name}=${encodeQueryPart(queryValue(element))}`);
      }
    } else {
      parts.push(`${name}=${encodeQueryPart(queryValue(value))}`);
    }
  } catch {
    throw invalidField(field, 'must be valid Unicode text (no lone surrogates)');
  }
}

function headerValue(field: string, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
  else throw invalidField(field, 'must be a string or a number: it fills a request header');
  if (!SAFE_HEADER_VALUE.test(text)) {
    throw invalidField(field, 'must not contain line breaks, control characters or non-ASCII characters: it fills a request header');
  }
  if (text.length > MAX_INPUT_HEADER_LENGTH)
    throw invalidField(field, `must be at most ${MAX_INPUT_HEADER_LENGTH} characters: it fills a request header`);
  return text;
}

function isInputField(value: unknown): value is InputField {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    typeof (value as { from?: unknown }).from === 'string' &&
    Object.keys(value).length === 1
  );
}

function checkFieldList(
  list: unknown,
  option: string,
  properties: ReadonlySet<string>,
  pathParams: ReadonlySet<string>,
  where: string,
): readonly string[] {
  if (!Array.isArray(list) || list.some((field) => typeof field !== 'string')) {
    throw new TypeError(`${where}: ${option} must be a list of input field names`);
  }
  const seen = new Set<string>();
  for (const field of list as string[]) {
    if (!properties.has(field)) throw new TypeError(`${where}: ${option} field "${field}" is not a property of inputSchema.properties`);
    if (pathParams.has(field)) throw new TypeError(`${where}: ${option} field "${field}" is a URL path parameter`);
    if (seen.has(field)) throw new TypeError(`${where}: ${option} field "${field}" is listed twice`);
    seen.add(field);
  }
  return list as string[];
}

const plans = new WeakMap<HttpToolDefinition, RequestPlan>();

/**
 * Validates the request parts of an HTTP tool definition and compiles them (cached per
 * definition object). Throws a TypeError naming the problem. Expects header names already
 * lower-cased, as `httpTool` stores them.
 */
export function compileRequestPlan(definition: HttpToolDefinition): RequestPlan {
  const cached = plans.get(definition);
  if (cached !== undefined) return cached;
  const where = `tool "${definition.name}"`;
  const method = definition.method;
  const properties = new Set(Object.keys((definition.inputSchema.properties ?? {}) as Record<string, unknown>));
  const template = compileUrlTemplate(definition.url, properties, where);
  const pathParams = new Set(template.params);

  // Headers: static, secret and from input.
  const staticHeaders: Record<string, string> = {};
  const inputHeaders: Array<{ name: string; field: string }> = [];
  const configuredHeaders = new Set<string>();
  const secretNames = Object.keys(definition.secretHeaders ?? {});
  for (const name of secretNames) {
    if (!HEADER_NAME.test(name)) throw new TypeError(`${where}: secret header name ${JSON.stringify(name)} is not a valid header name`);
    if (FORBIDDEN_HEADERS.has(name)) throw new TypeError(`${where}: header "${name}" cannot be configured`);
    configuredHeaders.add(name);
  }
  for (const [name, value] of Object.entries(definition.headers ?? {})) {
    if (!HEADER_NAME.test(name)) throw new TypeError(`${where}: header name ${JSON.stringify(name)} is not a valid header name`);
    if (FORBIDDEN_HEADERS.has(name)) throw new TypeError(`${where}: header "${name}" cannot be configured`);
    if (configuredHeaders.has(name)) throw new TypeError(`${where}: header "${name}" is configured twice`);
    if (typeof value === 'string') {
      if (!SAFE_HEADER_VALUE.test(value)) {
        throw new TypeError(`${where}: header "${name}" must be printable ASCII without line breaks or control characters`);
      }
      staticHeaders[name] = value;
      configuredHeaders.add(name);
    } else if (isInputField(value)) {
      inputHeaders.push({ name, field: value.from });
    } else {
      throw new TypeError(`${where}: header "${name}" must be a string or { from: "inputField" }`);
    }
  }
  for (const { name, field } of inputHeaders) {
    if (INPUT_FORBIDDEN_HEADERS.has(name) || configuredHeaders.has(name)) {
      throw new TypeError(`${where}: header "${name}" cannot be filled from input`);
    }
    if (!properties.has(field))
      throw new TypeError(`${where}: header "${name}" reads "${field}", which is not a property of inputSchema.properties`);
  }

  // Query and body fields.
  const explicitQuery =
    definition.query === undefined ? undefined : checkFieldList(definition.query, 'query', properties, pathParams, where);
  let explicitBodyFields: readonly string[] | undefined;
  let bodyField: string | undefined;
  if (definition.body !== undefined) {
    if (BODYLESS_METHODS.has(method)) throw new TypeError(`${where}: a ${method} request cannot have a body`);
    if (isInputField(definition.body)) {
      bodyField = definition.body.from;
      if (!properties.has(bodyField))
        throw new TypeError(`${where}: body reads "${bodyField}", which is not a property of inputSchema.properties`);
      if (pathParams.has(bodyField)) throw new TypeError(`${where}: body field "${bodyField}" is a URL path parameter`);
    } else {
      explicitBodyFields = checkFieldList(definition.body, 'body', properties, pathParams, where);
    }
  }
  const placedElsewhere = new Set<string>([...pathParams, ...inputHeaders.map((header) => header.field)]);
  for (const field of explicitQuery ?? []) {
    if (explicitBodyFields?.includes(field) === true || field === bodyField) {
      throw new TypeError(`${where}: field "${field}" cannot go both in the query and in the body`);
    }
  }
  const restExcluded = new Set<string>([...placedElsewhere, ...(explicitQuery ?? []), ...(explicitBodyFields ?? [])]);
  if (bodyField !== undefined) restExcluded.add(bodyField);

  const queryDefault = QUERY_METHODS.has(method);
  const queryFields: readonly string[] | 'rest' = explicitQuery ?? (queryDefault ? 'rest' : []);
  // Input never sends a parameter the template's own query fixes (it could override it).
  const fixedQuery = template.fixedQueryNames;
  for (const field of explicitQuery ?? []) {
    if (fixedQuery.has(queryNameKey(field))) {
      throw new TypeError(`${where}: query field "${field}" names a parameter the url's own query fixes`);
    }
  }
  if (queryFields === 'rest' && fixedQuery.size > 0) {
    for (const field of properties) {
      if (!restExcluded.has(field) && fixedQuery.has(queryNameKey(field))) {
        throw new TypeError(
          `${where}: inputSchema property "${field}" would be sent in the query, where the url's own query fixes a parameter of that name`,
        );
      }
    }
  }
  type BodyMode = { kind: 'none' } | { kind: 'fields'; fields: readonly string[] | 'rest' } | { kind: 'field'; field: string };
  const bodyMode: BodyMode =
    bodyField !== undefined
      ? { kind: 'field', field: bodyField }
      : explicitBodyFields !== undefined
        ? { kind: 'fields', fields: explicitBodyFields }
        : queryDefault
          ? { kind: 'none' }
          : { kind: 'fields', fields: 'rest' };

  const baseHeaders: Record<string, string> = { ...DEFAULT_HEADERS, ...staticHeaders };
  const defaultContentType = bodyMode.kind !== 'none' && staticHeaders['content-type'] === undefined;
  if (defaultContentType) baseHeaders['content-type'] = 'application/json';
  const staticQuery = template.staticQuery;

  function fieldsOf(input: Readonly<Record<string, unknown>>, fields: readonly string[] | 'rest'): string[] {
    if (fields !== 'rest') return fields as string[];
    return Object.keys(input).filter((field) => !restExcluded.has(field));
  }

  /** The query's input fields; a field the schema does not declare cannot stand in for a fixed parameter. */
  function queryFieldsOf(input: Readonly<Record<string, unknown>>): string[] {
    const fields = fieldsOf(input, queryFields);
    if (queryFields === 'rest' && fixedQuery.size > 0) {
      for (const field of fields) {
        if (fixedQuery.has(queryNameKey(field))) {
          throw invalidField(field, "cannot be sent: the tool's URL fixes the query parameter of that name");
        }
      }
    }
    return fields;
  }

  const plan: RequestPlan = Object.freeze({
    template,
    method,
    configuredHeaders,
    build(input: Readonly<Record<string, unknown>>): PlannedRequest {
      let path = template.path(input);
      const queryParts: string[] = staticQuery === '' ? [] : [staticQuery];
      for (const field of queryFieldsOf(input)) appendQuery(queryParts, field, input[field]);
      if (queryParts.length > 0) path += `?${queryParts.join('&')}`;

      const headers: Record<string, string> = { ...baseHeaders };
      for (const { name, field } of inputHeaders) {
        const value = headerValue(field, input[field]);
        if (value !== undefined) headers[name] = value;
      }

      let body: string | undefined;
      if (bodyMode.kind === 'field') {
        const value = input[bodyMode.field];
        if (value !== undefined) body = JSON.stringify(value);
      } else if (bodyMode.kind === 'fields') {
        const payload: Record<string, unknown> = {};
        for (const field of fieldsOf(input, bodyMode.fields)) {
          if (input[field] !== undefined) {
            setOwnMember(payload, field, input[field]);
          }
        }
        body = JSON.stringify(payload);
      }
      if (body === undefined && defaultContentType) delete headers['content-type'];
      return { method, path, headers, body };
    },
  });
  plans.set(definition, plan);
  return plan;
}

/** The `INVALID_INPUT` error for input that is not a JSON object. */
export function inputNotObject(): GatewayError {
  return new GatewayError({
    code: 'INVALID_INPUT',
    message: 'Invalid input: the input must be a JSON object',
    details: [{ path: '', message: 'must be an object' }],
  });
}
