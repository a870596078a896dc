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
const decimalNumber = /^-?\d+(?:\.\d+)?$/;

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
    if (!isJsonObject(node)) return undefined;
    node = node[key];
  }
  return node;
}

function headerTextOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number' && Number.isFinite(value) && (!Number.isInteger(value) || Number.isSafeInteger(value))) {
    return String(value);
  }
  return undefined;
}

/**
 * Checks the `Mcp-Param-*` headers of a call against its arguments. Returns a client-safe
 * reason when they disagree, when a header is missing although the body carries the value,
 * or when a header is malformed; `undefined` when everything matches.
 */
export function checkParamHeaders(declarations: readonly ParamHeaderDeclaration[], args: unknown, headers: Headers): string | undefined {
  for (const declaration of declarations) {
    const bodyValue = valueAt(args, declaration.path);
    const bodyText = headerTextOf(bodyValue);
    if (bodyText === undefined) continue;
    const raw = headers.get(declaration.header);
    if (raw === null) {
      return `the ${declaration.displayHeader} header is missing but the arguments carry ${declaration.path.join('.')}`;
    }
    const decoded = decodeMirroredHeaderValue(raw);
    if (decoded === undefined) return `the ${declaration.displayHeader} header is malformed`;
    const matches = typeof bodyValue === 'number' && decimalNumber.test(decoded) ? Number(decoded) === bodyValue : decoded === bodyText;
    if (!matches) {
      return `the ${declaration.displayHeader} header does not match arguments.${declaration.path.join('.')}`;
    }
  }
  return undefined;
}
