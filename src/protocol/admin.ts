import type { AdminPrincipal, AdminRole } from '../auth/admin-auth.js';
import { GatewayError } from '../errors.js';
import type { GatewayAdmin } from '../gateway.js';
import type { ApprovalStatus, InvocationStatus } from '../store/types.js';
import { z } from 'zod';
import { parseBody } from '../admin/agents.js';
import type { CallOutcome } from '../pipeline/types.js';
import { MAX_PAGE_SIZE } from '../store/shared.js';
import type { PolicyAdminView } from '../admin/policies.js';
import {
  decodePathSegment,
  isJsonContentType,
  jsonResponse,
  methodNotAllowed,
  parseJsonBody,
  readBodyText,
  readJsonBody,
  unsupportedMediaType,
} from './http.js';
import { JsonReply, type Reply } from './reply.js';

const decisionSchema = z.object({ reason: z.string().max(1000).optional() }).strict();

/** A decision body is optional: an empty body means no reason, whatever Content-Type says. */
async function readOptionalJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  // Read first: `fetch(url, { method: 'POST', body: '' })` says text/plain, `curl -d ''` a form.
  const text = await readBodyText(request, maxBytes);
  if (text.trim() === '') return {};
  if (!isJsonContentType(request.headers.get('content-type'))) throw unsupportedMediaType();
  return parseJsonBody(text);
}

/** The outcome of a decided call, as admin responses show it. */
function outcomeBody(outcome: CallOutcome): Record<string, unknown> {
  if (outcome.status === 'succeeded') return { invocationId: outcome.invocationId, status: 'succeeded', output: outcome.output };
  if (outcome.status === 'pending_approval' || outcome.status === 'running')
    return { invocationId: outcome.invocationId, status: outcome.status };
  return { invocationId: outcome.invocationId, status: 'error', error: outcome.error.toJSON() };
}

/** One admin request, already authenticated. */
export interface AdminRequest {
  admin: GatewayAdmin;
  principal: AdminPrincipal;
  request: Request;
  /** The method routes match: the request's, with HEAD answered as GET. */
  method: string;
  /** The path below `/admin`, e.g. `/agents/abc/rotate`. */
  path: string;
  url: URL;
  maxBodyBytes: number;
}

interface AdminRoute {
  method: string;
  pattern: RegExp;
  roles: readonly AdminRole[];
  handle(request: AdminRequest, params: string[]): Promise<Reply>;
}

const ADMIN: readonly AdminRole[] = ['admin'];
const APPROVERS: readonly AdminRole[] = ['approver', 'admin'];
const AUDITORS: readonly AdminRole[] = ['auditor', 'admin'];

const APPROVAL_STATUSES = new Set<ApprovalStatus>(['pending', 'approved', 'denied', 'expired', 'cancelled', 'executing', 'executed']);
const INVOCATION_STATUSES = new Set<InvocationStatus>([
  'pending_approval',
  'running',
  'succeeded',
  'failed',
  'denied',
  'invalid',
  'timeout',
  'expired',
  'cancelled',
  'outcome_unknown',
]);

/** `?limit=&cursor=` of every list route: a limit outside 1 to {@link MAX_PAGE_SIZE} is a 400, never clamped. */
function listOptions(url: URL): { limit?: number; cursor?: string } {
  const out: { limit?: number; cursor?: string } = {};
  const limit = url.searchParams.get('limit');
  if (limit !== null) {
    const value = /^\d+$/.test(limit) ? Number(limit) : Number.NaN;
    if (!(value >= 1 && value <= MAX_PAGE_SIZE)) throw badQuery(`limit must be an integer from 1 to ${MAX_PAGE_SIZE}`);
    out.limit = value;
  }
  const cursor = url.searchParams.get('cursor');
  if (cursor !== null) out.cursor = cursor;
  return out;
}

/**
 * A page of a list held whole (tools, policies), with `?limit=&cursor=` as the store's lists
 * take them; without `limit`, everything from the cursor on. `all` is in ascending order of
 * `sortKey`, and the cursor holds the sort key of the page's last item: the next page starts
 * after it, so a tool or rule created or deleted between two pages neither repeats an item
 * nor skips one (an offset would move under it).
 */
function pageOf<T>(all: readonly T[], url: URL, sortKey: (item: T) => string[]): { items: T[]; nextCursor?: string } {
  const { limit, cursor } = listOptions(url);
  const after = cursor === undefined ? undefined : decodeKeyCursor(cursor);
  // Sorted here too, in case a store lists its rules in another order.
  const keyed = all.map((item) => ({ item, key: sortKey(item) })).sort((left, right) => compareKeys(left.key, right.key));
  const start = after === undefined ? 0 : keyed.findIndex((entry) => compareKeys(entry.key, after) > 0);
  const rest = start === -1 ? [] : keyed.slice(start);
  const page = rest.slice(0, limit ?? rest.length);
  const last = page[page.length - 1];
  const items = page.map((entry) => entry.item);
  return page.length < rest.length && last !== undefined ? { items, nextCursor: encodeKeyCursor(last.key) } : { items };
}

/** Tools are listed by name. */
const toolSortKey = (tool: { name: string }): string[] => [tool.name];

/** Rules are listed code-defined first, in their order, then stored ones by creation (as the store lists them). */
function policySortKeys(rules: readonly PolicyAdminView[]): (rule: PolicyAdminView) => string[] {
  const codePositions = new Map<PolicyAdminView, number>();
  for (const rule of rules) if (rule.source === 'code') codePositions.set(rule, codePositions.size);
  return (rule) => {
    const position = codePositions.get(rule);
    return position === undefined ? ['1', rule.createdAt ?? '', rule.id] : ['0', String(position).padStart(10, '0')];
  };
}

function compareKeys(left: readonly string[], right: readonly string[]): number {
  for (let index = 0; index < Math.max(left.length, right.length); index++) {
    const a = left[index];
    const b = right[index];
    if (a === b) continue;
    if (a === undefined) return -1;
    if (b === undefined) return 1;
    return a < b ? -1 : 1;
  }
  return 0;
}

function encodeKeyCursor(key: readonly string[]): string {
  return Buffer.from(JSON.stringify(['k', ...key])).toString('base64url');
}

/** Reads a cursor made by {@link encodeKeyCursor}; anything else is a 400. */
function decodeKeyCursor(cursor: string): string[] {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString());
  } catch {
    key = undefined;
  }
  // As for the store's cursors: only the exact text encodeKeyCursor makes is taken.
  if (!Array.isArray(key) || key[0] !== 'k' || !key.every((part) => typeof part === 'string')) throw invalidCursor();
  const parts = key.slice(1) as string[];
  if (encodeKeyCursor(parts) !== cursor) throw invalidCursor();
  return parts;
}

function invalidCursor(): GatewayError {
  return new GatewayError({ code: 'BAD_REQUEST', message: 'Invalid cursor' });
}

function badQuery(message: string): GatewayError {
  return new GatewayError({ code: 'BAD_REQUEST', message });
}

function optionalParam(url: URL, name: string): string | undefined {
  const value = url.searchParams.get(name);
  return value === null || value === '' ? undefined : value;
}

function timeParam(url: URL, name: string): string | undefined {
  const value = optionalParam(url, name);
  if (value === undefined) return undefined;
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw badQuery(`${name} must be an ISO-8601 time`);
  // Records' times are compared as text, which holds for four-digit years: a time outside
  // them (`+275760-09-13…` sorts before `2026-…`) is taken as the nearest one that is in.
  return new Date(Math.min(Math.max(time, FIRST_ISO_TIME), LAST_ISO_TIME)).toISOString();
}

const FIRST_ISO_TIME = Date.parse('0000-01-01T00:00:00.000Z');
const LAST_ISO_TIME = Date.parse('9999-12-31T23:59:59.999Z');

function seqParam(url: URL, name: string): number | undefined {
  const value = optionalParam(url, name);
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value)) throw badQuery(`${name} must be a non-negative integer`);
  return Number(value);
}

function withDefined<T extends Record<string, unknown>>(value: T): T {
  for (const key of Object.keys(value)) if (value[key] === undefined) delete value[key];
  return value;
}

const routes: AdminRoute[] = [
  {
    method: 'GET',
    pattern: /^\/tools$/,
    roles: ADMIN,
    handle: async ({ admin, url }) => jsonResponse(200, pageOf(await admin.listTools(), url, toolSortKey)),
  },
  {
    method: 'POST',
    pattern: /^\/tools$/,
    roles: ADMIN,
    handle: async ({ admin, principal, request, maxBodyBytes }) =>
      jsonResponse(201, await admin.createTool((await readJsonBody(request, maxBodyBytes)) as Record<string, unknown>, principal)),
  },
  {
    method: 'GET',
    pattern: /^\/tools\/([^/]+)$/,
    roles: ADMIN,
    handle: async ({ admin }, [name]) => jsonResponse(200, await admin.getTool(name as string)),
  },
  {
    method: 'PATCH',
    pattern: /^\/tools\/([^/]+)$/,
    roles: ADMIN,
    handle: async ({ admin, principal, request, maxBodyBytes }, [name]) =>
      jsonResponse(
        200,
        await admin.updateTool(name as string, (await readJsonBody(request, maxBodyBytes)) as Record<string, unknown>, principal),
      ),
  },
  {
    method: 'DELETE',
    pattern: /^\/tools\/([^/]+)$/,
    roles: ADMIN,
    handle: async ({ admin, principal }, [name]) => {
      await admin.deleteTool(name as string, principal);
      return new JsonReply(204, null);
    },
  },
  {
    method: 'GET',
    pattern: /^\/policies$/,
    roles: ADMIN,
    handle: async ({ admin, url }) => {
      const rules = await admin.listPolicies();
      return jsonResponse(200, pageOf(rules, url, policySortKeys(rules)));
    },
  },
  {
    method: 'POST',
    pattern: /^\/policies$/,
    roles: ADMIN,
    handle: async ({ admin, principal, request, maxBodyBytes }) =>
      jsonResponse(201, await admin.createPolicy((await readJsonBody(request, maxBodyBytes)) as Record<string, unknown>, principal)),
  },
  {
    method: 'GET',
    pattern: /^\/policies\/([^/]+)$/,
    roles: ADMIN,
    handle: async ({ admin }, [id]) => jsonResponse(200, await admin.getPolicy(id as string)),
  },
  {
    method: 'PATCH',
    pattern: /^\/policies\/([^/]+)$/,
    roles: ADMIN,
    handle: async ({ admin, principal, request, maxBodyBytes }, [id]) =>
      jsonResponse(
        200,
        await admin.updatePolicy(id as string, (await readJsonBody(request, maxBodyBytes)) as Record<string, unknown>, principal),
      ),
  },
  {
    method: 'DELETE',
    pattern: /^\/policies\/([^/]+)$/,
    roles: ADMIN,
    handle: async ({ admin, principal }, [id]) => {
      await admin.deletePolicy(id as string, principal);
      return new JsonReply(204, null);
    },
  },
  {
    method: 'POST',
    pattern: /^\/secrets\/rotate$/,
    roles: ADMIN,
    handle: async ({ admin, principal, request, maxBodyBytes }) => {
      // A keyring sent here would be ignored, and the old key then retired while still in use.
      const body = await readOptionalJsonBody(request, maxBodyBytes);
      if (typeof body !== 'object' || body === null || Array.isArray(body) || Object.keys(body).length > 0) {
        throw new GatewayError({
          code: 'BAD_REQUEST',
          message:
            'POST /admin/secrets/rotate takes no body: keys are never sent over HTTP; add the new key to the encryptionKey keyring of every instance (or pass it to gateway.admin.rotateSecrets({ encryptionKey })), then rotate',
        });
      }
      return jsonResponse(200, await admin.rotateSecrets({}, principal));
    },
  },
  {
    method: 'GET',
    pattern: /^\/audit\/verify$/,
    roles: AUDITORS,
    handle: async ({ admin, url }) =>
      jsonResponse(200, await admin.verifyAudit(withDefined({ from: seqParam(url, 'from'), to: seqParam(url, 'to') }))),
  },
  {
    method: 'GET',
    pattern: /^\/agents$/,
    roles: ADMIN,
    handle: async ({ admin, url }) => jsonResponse(200, await admin.listAgents(listOptions(url))),
  },
  {
    method: 'POST',
    pattern: /^\/agents$/,
    roles: ADMIN,
    handle: async ({ admin, principal, request, maxBodyBytes }) =>
      jsonResponse(201, await admin.createAgent((await readJsonBody(request, maxBodyBytes)) as never, principal)),
  },
  {
    method: 'GET',
    pattern: /^\/agents\/([^/]+)$/,
    roles: ADMIN,
    handle: async ({ admin }, [id]) => jsonResponse(200, await admin.getAgent(id as string)),
  },
  {
    method: 'POST',
    pattern: /^\/agents\/([^/]+)\/(disable|enable|revoke|rotate)$/,
    roles: ADMIN,
    handle: async ({ admin, principal }, [id, action]) => {
      const agentId = id as string;
      switch (action) {
        case 'disable':
          return jsonResponse(200, await admin.disableAgent(agentId, principal));
        case 'enable':
          return jsonResponse(200, await admin.enableAgent(agentId, principal));
        case 'revoke':
          return jsonResponse(200, await admin.revokeAgent(agentId, principal));
        default:
          return jsonResponse(200, await admin.rotateAgentKey(agentId, principal));
      }
    },
  },
  {
    method: 'GET',
    pattern: /^\/approvals$/,
    roles: APPROVERS,
    handle: async ({ admin, url }) => {
      const status = optionalParam(url, 'status');
      if (status !== undefined && !APPROVAL_STATUSES.has(status as ApprovalStatus)) throw badQuery('unknown status');
      return jsonResponse(
        200,
        await admin.listApprovals(
          withDefined({
            ...listOptions(url),
            status: status as ApprovalStatus | undefined,
            agentId: optionalParam(url, 'agentId'),
            tool: optionalParam(url, 'tool'),
          }),
        ),
      );
    },
  },
  {
    method: 'GET',
    pattern: /^\/approvals\/([^/]+)$/,
    roles: APPROVERS,
    handle: async ({ admin }, [id]) => jsonResponse(200, await admin.getApproval(id as string)),
  },
  {
    method: 'POST',
    pattern: /^\/approvals\/([^/]+)\/(approve|deny)$/,
    roles: APPROVERS,
    handle: async ({ admin, principal, request, maxBodyBytes }, [id, action]) => {
      const body = await readOptionalJsonBody(request, maxBodyBytes);
      const reason = parseBody(decisionSchema, body).reason;
      const result = await admin.decide(
        id as string,
        reason === undefined ? { decision: action as 'approve' | 'deny' } : { decision: action as 'approve' | 'deny', reason },
        principal,
      );
      return jsonResponse(200, { approval: result.approval, invocation: outcomeBody(result.outcome) });
    },
  },
  {
    method: 'GET',
    pattern: /^\/invocations$/,
    roles: AUDITORS,
    handle: async ({ admin, url }) => {
      const status = optionalParam(url, 'status');
      if (status !== undefined && !INVOCATION_STATUSES.has(status as InvocationStatus)) throw badQuery('unknown status');
      return jsonResponse(
        200,
        await admin.listInvocations(
          withDefined({
            ...listOptions(url),
            status: status as InvocationStatus | undefined,
            agentId: optionalParam(url, 'agentId'),
            tool: optionalParam(url, 'tool'),
            from: timeParam(url, 'from'),
            to: timeParam(url, 'to'),
          }),
        ),
      );
    },
  },
  {
    method: 'GET',
    pattern: /^\/invocations\/([^/]+)$/,
    roles: AUDITORS,
    handle: async ({ admin }, [id]) => jsonResponse(200, await admin.getInvocation(id as string)),
  },
  {
    method: 'GET',
    pattern: /^\/audit$/,
    roles: AUDITORS,
    handle: async ({ admin, url }) =>
      jsonResponse(
        200,
        await admin.listAudit(
          withDefined({
            ...listOptions(url),
            type: optionalParam(url, 'type'),
            agentId: optionalParam(url, 'agentId'),
            tool: optionalParam(url, 'tool'),
            from: timeParam(url, 'from'),
            to: timeParam(url, 'to'),
            fromSeq: seqParam(url, 'fromSeq'),
            toSeq: seqParam(url, 'toSeq'),
          }),
        ),
      ),
  },
];

/**
 * Routes an authenticated admin request: 404 for an unknown path, 405 for a known path with
 * another method, 403 when the principal lacks every role the route accepts.
 */
export async function routeAdmin(request: AdminRequest): Promise<Reply> {
  const allowed: string[] = [];
  for (const route of routes) {
    const match = route.pattern.exec(request.path);
    if (!match) continue;
    if (route.method !== request.method) {
      allowed.push(route.method);
      continue;
    }
    if (!route.roles.some((role) => request.principal.roles.includes(role))) {
      throw new GatewayError({ code: 'FORBIDDEN', message: `This route needs one of the roles: ${route.roles.join(', ')}` });
    }
    const params = match.slice(1).map(decodePathSegment);
    return route.handle(request, params);
  }
  if (allowed.length > 0) {
    return methodNotAllowed(allowed.join(', '));
  }
  throw new GatewayError({ code: 'NOT_FOUND', message: 'No such admin route' });
}
