/**
 * Everything derived from one `tools/list` listing, computed once per listing object and
 * kept while the backend keeps handing out that same array: its fingerprint (for cursors),
 * a by-name index (for calls), the `x-mcp-header` declarations of each tool, and the
 * serialised pages.
 */
import { createHash } from 'node:crypto';
import type { CursorCodec } from './cursor.js';
import { type ParamHeaderDeclaration, scanParamHeaderDeclarations } from './param-headers.js';
import type { McpToolView } from './types.js';

/**
 * Which fields a tool carries on the wire: `basic` for 2025-03-26 (no `title`, no
 * `outputSchema`), `full` for 2025-06-18 and 2026-07-28, `tasks` for 2025-11-25 (`full` plus
 * `execution.taskSupport: "optional"`: any call may wait for an approval, so every tool may
 * be called as a task).
 */
export type ToolShape = 'basic' | 'full' | 'tasks';

/** One page of a listing, ready to be placed into a result. */
export interface ListingPage {
  /** The JSON array of the page's tools. */
  toolsJson: string;
  /** The cursor of the next page, when there is one. */
  nextCursor: string | undefined;
}

/** What a call needs to know about one listed tool. */
export interface IndexedTool {
  view: McpToolView;
  hasOutputSchema: boolean;
  /** The view's output check, when it has an `outputSchema` and carries one. */
  validateOutput: McpToolView['validateOutput'];
  /** Its `x-mcp-header` declarations (empty for most tools). */
  paramHeaders: readonly ParamHeaderDeclaration[];
}

/** The derived data of one listing. */
export interface ListingIndex {
  readonly size: number;
  /** The offset a cursor stands for, or `undefined` when it is not a cursor of this listing. */
  offsetOf(cursor: string): number | undefined;
  page(shape: ToolShape, offset: number): ListingPage;
  tool(name: string): IndexedTool | undefined;
}

/** Returns the (cached) index of a listing. */
export type ListingIndexer = (listing: readonly McpToolView[]) => ListingIndex;

/** Creates an indexer that pages listings by `pageSize` and signs cursors with `cursors`. */
export function createListingIndexer(pageSize: number, cursors: CursorCodec): ListingIndexer {
  const indexes = new WeakMap<readonly McpToolView[], ListingIndex>();
  // Per-tool data outlives one listing array when the backend reuses its tool objects.
  const tools = new WeakMap<McpToolView, IndexedTool>();
  const indexTool = (view: McpToolView): IndexedTool => {
    let indexed = tools.get(view);
    if (indexed === undefined) {
      indexed = {
        view,
        hasOutputSchema: view.outputSchema !== undefined,
        validateOutput: view.outputSchema === undefined ? undefined : view.validateOutput,
        paramHeaders: scanParamHeaderDeclarations(view.inputSchema),
      };
      tools.set(view, indexed);
    }
    return indexed;
  };
  return (listing) => {
    let index = indexes.get(listing);
    if (index === undefined) {
      index = indexListing(listing, pageSize, cursors, indexTool);
      indexes.set(listing, index);
    }
    return index;
  };
}

function indexListing(
  listing: readonly McpToolView[],
  pageSize: number,
  cursors: CursorCodec,
  indexTool: (view: McpToolView) => IndexedTool,
): ListingIndex {
  let fingerprint: Buffer | undefined;
  const pages = new Map<string, ListingPage>();
  let byName: Map<string, McpToolView> | undefined;
  let lookups = 0;

  function fingerprintOf(): Buffer {
    if (fingerprint === undefined) {
      const hash = createHash('sha256');
      for (const tool of listing) hash.update(JSON.stringify(tool.name)).update('\n');
      fingerprint = hash.digest();
    }
    return fingerprint;
  }

  function find(name: string): McpToolView | undefined {
    // A listing that is looked up once (a fresh array per call) is scanned; one that is
    // looked up again gets a map.
    if (byName === undefined && lookups++ === 0) return listing.find((view) => view.name === name);
    if (byName === undefined) {
      byName = new Map();
      for (const view of listing) if (!byName.has(view.name)) byName.set(view.name, view);
    }
    return byName.get(name);
  }

  return {
    size: listing.length,
    offsetOf(cursor) {
      const offset = cursors.decode(cursor, fingerprintOf());
      return offset !== undefined && offset > 0 && offset < listing.length ? offset : undefined;
    },
    page(shape, offset) {
      const key = `${shape}:${offset}`;
      let page = pages.get(key);
      if (page === undefined) {
        const end = Math.min(offset + pageSize, listing.length);
        const parts: string[] = [];
        for (let position = offset; position < end; position++) {
          parts.push(serialiseTool(listing[position] as McpToolView, shape));
        }
        page = {
          toolsJson: `[${parts.join(',')}]`,
          nextCursor: end < listing.length ? cursors.encode(end, fingerprintOf()) : undefined,
        };
        pages.set(key, page);
      }
      return page;
    },
    tool(name) {
      const view = find(name);
      return view === undefined ? undefined : indexTool(view);
    },
  };
}

const optionalTaskSupport = { taskSupport: 'optional' };

function serialiseTool(view: McpToolView, shape: ToolShape): string {
  const wire: Record<string, unknown> = { name: view.name };
  if (shape !== 'basic' && view.title !== undefined) wire.title = view.title;
  wire.description = view.description;
  wire.inputSchema = view.inputSchema;
  if (shape !== 'basic' && view.outputSchema !== undefined) wire.outputSchema = view.outputSchema;
  if (view.annotations !== undefined) wire.annotations = view.annotations;
  if (shape === 'tasks') wire.execution = optionalTaskSupport;
  return JSON.stringify(wire);
}
