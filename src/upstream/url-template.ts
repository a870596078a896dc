import { GatewayError, type InputIssue } from '../errors.js';
import { escapePointer } from '../util/json-pointer.js';

/** A compiled URL template: origin and path prefix fixed, `{param}` segments filled per call. */
export interface UrlTemplate {
  /** `https://crm.example.com` (default port omitted), as WHATWG URL normalises it. */
  readonly origin: string;
  /** Host name as normalised by WHATWG URL, IPv6 brackets removed (`127.0.0.1`, `::1`, `crm.example.com`). */
  readonly hostname: string;
  /** Names of the path parameters, in order. */
  readonly params: readonly string[];
  /** The template's own query string without `?` (`''` when it has none). */
  readonly staticQuery: string;
  /**
   * The names in the template's own query, as {@link queryNameKey} compares them, both
   * percent-decoded and form-decoded (`+` as a space): input may never send one of these.
   */
  readonly fixedQueryNames: ReadonlySet<string>;
  /** The request path for `input`; throws `INVALID_INPUT` for a parameter that cannot be one path segment. */
  path(input: Readonly<Record<string, unknown>>): string;
}

const PARAM_SEGMENT = /^\{([A-Za-z_$][A-Za-z0-9_$-]*)\}$/;
// encodeURIComponent leaves these sub-delimiters alone; encoding them too keeps a segment opaque.
const SUB_DELIMITERS = /[!'()*]/g;

/** JSON Pointer to a top-level input field. */
export function fieldPointer(field: string): string {
  return `/${escapePointer(field)}`;
}

/** An `INVALID_INPUT` error about one input field. */
export function invalidField(field: string, message: string): GatewayError {
  const issue: InputIssue = { path: fieldPointer(field), message };
  return new GatewayError({ code: 'INVALID_INPUT', message: `Invalid input: ${field} ${message}`, details: [issue] });
}

/**
 * How a query parameter name is compared with the template's fixed ones: in lower case and
 * without a `[…]` suffix, since many servers read `Tenant`, `tenant[]` or `tenant[0]` as (or
 * into) `tenant`.
 */
export function queryNameKey(name: string): string {
  const bracket = name.indexOf('[');
  return (bracket === -1 ? name : name.slice(0, bracket)).toLowerCase();
}

function fixedQueryNamesOf(search: string): ReadonlySet<string> {
  const names = new Set<string>();
  if (search.length <= 1) return names;
  for (const name of new URLSearchParams(search).keys()) names.add(queryNameKey(name));
  for (const part of search.slice(1).split('&')) {
    const raw = part.split('=', 1)[0] as string;
    let name = raw;
    try {
      name = decodeURIComponent(raw);
    } catch {
      // A malformed escape reaches the server as it is.
    }
    if (part !== '') names.add(queryNameKey(name));
  }
  return names;
}

function percentEncodeByte(character: string): string {
  return `%${(character.charCodeAt(0) as number).toString(16).toUpperCase()}`;
}

/** Encodes a value as exactly one path segment: every byte outside `A-Z a-z 0-9 - . _ ~` is percent-encoded. */
export function encodePathSegment(value: string): string {
  return encodeURIComponent(value).replace(SUB_DELIMITERS, percentEncodeByte);
}

function segmentValue(field: string, value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' && Number.isFinite(value)) text = String(value);
  else if (typeof value === 'boolean') text = String(value);
  else if (value === undefined) throw invalidField(field, 'is required: it fills a path segment of the URL');
  else throw invalidField(field, 'must be a string or a number: it fills a path segment of the URL');
  if (text.length === 0) throw invalidField(field, 'must not be empty: it fills a path segment of the URL');
  if (text === '.' || text === '..') throw invalidField(field, 'must not be "." or ".."');
  let encoded: string;
  try {
    encoded = encodePathSegment(text);
  } catch {
    throw invalidField(field, 'must be valid Unicode text (no lone surrogates)');
  }
  return encoded;
}

/**
 * Validates a URL template and compiles it. Rules: an absolute `http:` or `https:` URL, no
 * user info, no fragment, `{param}` only as a whole path segment (never in host, port or
 * query), no `.`/`..` segments or backslashes, every param a property of the input schema.
 * Throws a TypeError naming the problem.
 */
export function compileUrlTemplate(template: unknown, properties: ReadonlySet<string>, where: string): UrlTemplate {
  if (typeof template !== 'string' || template.length === 0) throw new TypeError(`${where}: url must be a non-empty string`);
  const schemeMatch = /^(https?):\/\//i.exec(template);
  if (schemeMatch === null) throw new TypeError(`${where}: url must be an absolute http:// or https:// URL`);
  if (template.includes('\\')) throw new TypeError(`${where}: url must not contain a backslash`);
  if (template.includes('#')) throw new TypeError(`${where}: url must not contain a fragment (#)`);
  if (/[\s\x00-\x1f\x7f]/.test(template)) throw new TypeError(`${where}: url must not contain white space or control characters`);

  const afterScheme = template.slice(schemeMatch[0].length);
  const authorityEnd = afterScheme.search(/[/?]/);
  const authority = authorityEnd === -1 ? afterScheme : afterScheme.slice(0, authorityEnd);
  const rest = authorityEnd === -1 ? '' : afterScheme.slice(authorityEnd);
  if (authority.includes('@')) throw new TypeError(`${where}: url must not contain user info (user:password@)`);
  if (/[{}]/.test(authority))
    throw new TypeError(`${where}: url parameters are allowed only as whole path segments, not in the host or port`);
  const queryStart = rest.indexOf('?');
  const rawPath = queryStart === -1 ? rest : rest.slice(0, queryStart);
  const rawQuery = queryStart === -1 ? '' : rest.slice(queryStart + 1);
  if (/[{}]/.test(rawQuery)) throw new TypeError(`${where}: url parameters are allowed only as whole path segments, not in the query`);

  let url: URL;
  try {
    url = new URL(template);
  } catch {
    throw new TypeError(`${where}: url is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`${where}: url must use http or https`);
  if (url.username !== '' || url.password !== '') throw new TypeError(`${where}: url must not contain user info`);
  if (url.hostname === '') throw new TypeError(`${where}: url must have a host`);

  const rawSegments = (rawPath === '' ? '/' : rawPath).split('/');
  const parsedSegments = url.pathname.split('/');
  const params: string[] = [];
  // Alternating literal text and parameter names: [literal, param, literal, param, ..., literal].
  const literals: string[] = [];
  let literal = '';
  for (let index = 1; index < rawSegments.length; index++) {
    const raw = rawSegments[index] as string;
    if (raw === '.' || raw === '..' || /^%2e(%2e)?$|^\.%2e$|^%2e\.$/i.test(raw)) {
      throw new TypeError(`${where}: url must not contain "." or ".." path segments`);
    }
    literal += '/';
    const param = PARAM_SEGMENT.exec(raw);
    if (param !== null) {
      const name = param[1] as string;
      if (!properties.has(name)) {
        throw new TypeError(`${where}: url parameter {${name}} is not a property of inputSchema.properties`);
      }
      if (params.includes(name)) throw new TypeError(`${where}: url parameter {${name}} appears twice`);
      params.push(name);
      literals.push(literal);
      literal = '';
    } else if (/[{}]/.test(raw)) {
      throw new TypeError(`${where}: url parameters are allowed only as whole path segments ("/{id}/"), found "${raw}"`);
    } else {
      literal += parsedSegments[index] ?? '';
    }
  }
  literals.push(literal);
  if (parsedSegments.length !== rawSegments.length) {
    throw new TypeError(`${where}: url path could not be parsed segment by segment`);
  }

  const staticQuery = url.search.length > 1 ? url.search.slice(1) : '';
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const frozenParams = Object.freeze(params);
  const head = literals[0] as string;

  return Object.freeze({
    origin: url.origin,
    hostname,
    params: frozenParams,
    staticQuery,
    fixedQueryNames: fixedQueryNamesOf(url.search),
    path(input: Readonly<Record<string, unknown>>): string {
      let path = head;
      for (let index = 0; index < frozenParams.length; index++) {
        const name = frozenParams[index] as string;
        path += segmentValue(name, input[name]) + (literals[index + 1] as string);
      }
      return path;
    },
  });
}
