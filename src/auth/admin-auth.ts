import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { requestForHost } from '../protocol/node-request.js';
import { bearerToken } from './agent-keys.js';

/** A role of an admin principal. */
export type AdminRole = 'admin' | 'approver' | 'auditor';

/** Who is calling an admin route. Agent keys never authenticate as one. */
export interface AdminPrincipal {
  id: string;
  roles: AdminRole[];
}

/** Built-in admin tokens: each is a bearer token with an id and roles. */
export interface AdminTokenConfig {
  /** At least 24 printable ASCII characters, no spaces (what a Bearer header carries), and no other entry's. Compared in constant time; kept only as a hash. */
  token: string;
  id: string;
  roles: AdminRole[];
}

/**
 * How admin routes authenticate: a hook of the host app, or built-in tokens. The hook gets
 * a Web `Request` behind every adapter (headers, cookies, URL as the gateway routes it, with
 * the mount swapped for `basePath`); it may read the body, which stays the gateway's too.
 *
 * The hook answers `null` (or `undefined`) to refuse, or an {@link AdminPrincipal}: an `id`
 * that is a non-empty string and `roles` an array of `'admin'`, `'approver'`, `'auditor'`
 * (possibly empty). Anything else — roles as a string, a role the gateway does not know, no
 * id, `true` — is a malformed principal: the request is refused with 401, as without one,
 * and never reaches a route. Only a copy of the checked `id` and `roles` is used. A hook that
 * throws gets the request a 503 `AUTH_UNAVAILABLE`; what it threw goes to `onError` only.
 *
 * @example
 * ```ts
 * const gateway = createGateway({
 *   admin: {
 *     authenticate: async (request) => {
 *       const session = await sessions.fromCookie(request.headers.get('cookie'));
 *       return session?.isStaff ? { id: session.userId, roles: ['approver'] } : null;
 *     },
 *   },
 * });
 * ```
 */
export type AdminAuthOption =
  | { authenticate(request: Request): AdminPrincipal | null | Promise<AdminPrincipal | null> }
  | { tokens: AdminTokenConfig[] };

export const adminAuthSchema = z.union(
  [
    z
      .object({ authenticate: z.custom<(request: Request) => unknown>((value) => typeof value === 'function', 'must be a function') })
      .strict(),
    z
      .object({
        tokens: z
          .array(
            z
              .object({
                token: z
                  .string()
                  .min(24, 'admin tokens must be at least 24 characters')
                  .regex(/^[\x21-\x7E]+$/, 'admin tokens must be printable ASCII without spaces (a Bearer header carries no others)'),
                id: z.string().min(1),
                roles: z.array(z.enum(['admin', 'approver', 'auditor'])).min(1),
              })
              .strict(),
          )
          .min(1)
          .superRefine((tokens, context) => {
            // One token, two entries: only the last would ever be found, so the principal it
            // opens would not be the one its first entry says.
            const seen = new Set<string>();
            tokens.forEach((entry, index) => {
              if (seen.has(entry.token)) {
                context.addIssue({ code: 'custom', path: [index, 'token'], message: 'admin tokens must differ from each other' });
              }
              seen.add(entry.token);
            });
          }),
      })
      .strict(),
  ],
  { error: 'must be { tokens: [{ token, id, roles }] } (roles: admin, approver, auditor) or { authenticate(request) }' },
);

const hash = (text: string) => createHash('sha256').update(text).digest();

const adminRoles: readonly unknown[] = ['admin', 'approver', 'auditor'] satisfies AdminRole[];

/**
 * Builds the admin authenticator. Without configuration, every admin request is refused.
 * A malformed principal from an `authenticate` hook is refused (null), and each refusal is
 * told to `report` once, as a `TypeError` that says what is wrong but never holds its values.
 */
export function createAdminAuthenticator(
  option: AdminAuthOption | undefined,
  report?: (error: TypeError) => void,
): (request: Request) => Promise<AdminPrincipal | null> {
  if (option === undefined) return async () => null;
  if ('authenticate' in option) {
    return async (request) => {
      const returned: unknown = await option.authenticate(requestForHost(request));
      if (returned === null || returned === undefined) return null;
      const principal = checkedPrincipal(returned);
      if (typeof principal !== 'string') return principal;
      report?.(new TypeError(`admin.authenticate returned a malformed principal, refused with 401: ${principal}`));
      return null;
    };
  }
  const tokens = option.tokens.map((entry) => ({ hash: hash(entry.token), principal: { id: entry.id, roles: [...entry.roles] } }));
  return async (request) => {
    const presented = bearerToken(request.headers.get('authorization'));
    if (presented === undefined) return null;
    const presentedHash = hash(presented);
    let found: AdminPrincipal | null = null;
    // Compare against every token so timing says nothing about which one matched.
    for (const entry of tokens) {
      if (timingSafeEqual(entry.hash, presentedHash)) found = entry.principal;
    }
    return found;
  };
}

/**
 * A copy of the principal a hook returned, each field read once; or, when it is not one, what
 * is wrong with it (kinds and positions only: a hook's values may be secrets).
 */
function checkedPrincipal(value: unknown): AdminPrincipal | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `it is ${kind(value)}, not an object`;
  const { id, roles } = value as { id?: unknown; roles?: unknown };
  if (typeof id !== 'string' || id === '') return `its id is ${kind(id)}, not a non-empty string`;
  if (!Array.isArray(roles)) return `its roles are ${kind(roles)}, not an array`;
  const copy: unknown[] = Array.from(roles);
  const unknownRole = copy.findIndex((role) => !adminRoles.includes(role));
  if (unknownRole !== -1) return `its roles[${unknownRole}] is not one of 'admin', 'approver', 'auditor'`;
  return { id, roles: copy as AdminRole[] };
}

/** What sort of value this is, without its content. */
function kind(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  if (value === '') return 'an empty string';
  const type = typeof value;
  return type === 'object' ? 'an object' : `a${/^[aeiou]/.test(type) ? 'n' : ''} ${type}`;
}
