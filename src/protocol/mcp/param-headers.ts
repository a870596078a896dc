/**
 * 2026-07-28 custom headers from tool parameters: a property of a tool's `inputSchema`
 * marked `x-mcp-header: "Region"` is mirrored by clients into `Mcp-Param-Region`, and the
 * server must check the header against the body before running the call.
 */
import { decodeMirroredHeaderValue } from './header-values.js';
import { isJsonObject } from './json-rpc.js';

/** One annotated property: where it sits in the arguments and which header mirrors it. */
export interface ParamHeaderDeclaration {
  /** The lower-cased header name, `mcp-param-region`. */
  header: string;
  /** The header name as declared, for messages. */
  displayHeader: string;
  /** Property names from the arguments root to the annotated value. */
  path: readonly string[];
  /** The declared JSON type (`integer` values compare numerically). */
  type: unknown;
}

const headerToken = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A decimal integer, optionally written with a zero fraction (`42.0` stands for 42). */
const integerText = /^(-?)(\d+)(?:\.0+)?$/;

/**
 * The valid `x-mcp-header` declarations of an input schema, reachable from the root
 * through `properties` only (the only place the transport lets them live). Malformed
 * declarations are left out: conforming clients drop such tools and never mirror them.
 */
export function scanParamHeaderDeclarations(inputSchema: Record<string, unknown>): ParamHeaderDeclaration[] {
  const declarations: ParamHeaderDeclaration[] = [];
  const seen = new Set<string>();
  const pending: Array<{ schema: Record<string, unknown>; path: string[] }> = [{ schema: inputSchema, path: [] }];
  while (pending.length > 0) {
    const { schema, path } = pending.pop() as { schema: Record<string, unknown>; path: string[] };
    const properties = schema.properties;
    if (!isJsonObject(properties)) continue;
    for (const [name, property] of Object.entries(properties)) {
      if (!isJsonObject(property)) continue;
      const propertyPath = [...path, name];
      const declared = property['x-mcp-header'];
      if (typeof declared === 'string' && headerToken.test(declared)) {
        const header = `mcp-param-${declared.toLowerCase()}`;
        if (!seen.has(header)) {
          seen.add(header);
          declarations.push({ header, displayHeader: `Mcp-Param-${declared}`, path: propertyPath, type: property.type });
        }
      }
      pending.push({ schema: property, path: propertyPath });
    }
  }
  return declarations;
}

function valueAt(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const key of path) {
    // Own members only: an absent `toString` is absent, not Object.prototype's.
    if (!isJsonObject(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

/**
 * The header text of a body value, or `undefined` when the value has none. The transport
 * lets `x-mcp-header` mark only strings, integers within JavaScript's safe range and
 * booleans, and defines a header form only for them: any other value (an integer beyond
 * 2^53 - 1, which JSON parsing has already rounded, a fraction, an object, an array) cannot
 * be carried, so a header cannot be checked against it.
 */
function headerTextOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

/**
 * True when a header text stands for exactly this integer: decimal, optionally with a zero
 * fraction and leading zeros (`42.0`, `042`). Compared digit for digit, not through
 * `Number()`, whose rounding would let `7.0000000000000001` stand for 7.
 */
function isSameInteger(text: string, value: number): boolean {
  const match = integerText.exec(text);
  if (match === null) return false;
  const digits = (match[2] as string).replace(/^0+(?=\d)/, '');
  return (digits === '0' ? '0' : `${match[1]}${digits}`) === String(value);
}

function describeUncarried(value: unknown): string {
  if (typeof value === 'number') return 'a number that is not an integer from -(2^53 - 1) to 2^53 - 1';
  return Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * Checks the `Mcp-Param-*` headers of a call against its arguments. Returns a client-safe
 * reason when they disagree, when a header is missing although the body carries the value,
 * when a header is present although the body carries no value for it, when the body's value
 * is one no header can carry, or when a header is malformed; `undefined` when everything
 * matches.
 */
export function checkParamHeaders(declarations: readonly ParamHeaderDeclaration[], args: unknown, headers: Headers): string | undefined {
  for (const declaration of declarations) {
    const bodyValue = valueAt(args, declaration.path);
    const raw = headers.get(declaration.header);
    const where = `arguments.${declaration.path.join('.')}`;
    if (bodyValue === undefined || bodyValue === null) {
      // A conforming client omits the header then; one that arrives anyway names a value
      // the call does not run with.
      if (raw !== null) return `the ${declaration.displayHeader} header is present but ${where} is absent or null`;
      continue;
    }
    const bodyText = headerTextOf(bodyValue);
    if (bodyText === undefined) {
      return `${where} is ${describeUncarried(bodyValue)}, which cannot be carried in the ${declaration.displayHeader} header`;
    }
    if (raw === null) return `the ${declaration.displayHeader} header is missing but the arguments carry ${declaration.path.join('.')}`;
    const decoded = decodeMirroredHeaderValue(raw);
    if (decoded === undefined) return `the ${declaration.displayHeader} header is malformed`;
    const matches = typeof bodyValue === 'number' ? isSameInteger(decoded, bodyValue) : decoded === bodyText;
    if (!matches) return `the ${declaration.displayHeader} header does not match ${where}`;
  }
  return undefined;
}
