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
  /** At least 24 characters. Compared in constant time; kept only as a hash. */
  token: string;
  id: string;
  roles: AdminRole[];
}

/**
 * How admin routes authenticate: a hook of the host app, or built-in tokens. The hook gets
 * a Web `Request` behind every adapter (headers, cookies, URL as the gateway routes it, with
 * the mount swapped for `basePath`); it may read the body, which stays the gateway's too.
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

export const adminAuthSchema = z.union([
  z
    .object({ authenticate: z.custom<(request: Request) => unknown>((value) => typeof value === 'function', 'must be a function') })
    .strict(),
  z
    .object({
      tokens: z
        .array(
          z
            .object({
              token: z.string().min(24, 'admin tokens must be at least 24 characters'),
              id: z.string().min(1),
              roles: z.array(z.enum(['admin', 'approver', 'auditor'])).min(1),
            })
            .strict(),
        )
        .min(1),
    })
    .strict(),
]);

const hash = (text: string) => createHash('sha256').update(text).digest();

/** Builds the admin authenticator. Without configuration, every admin request is refused. */
export function createAdminAuthenticator(option: AdminAuthOption | undefined): (request: Request) => Promise<AdminPrincipal | null> {
  if (option === undefined) return async () => null;
  if ('authenticate' in option) {
    return async (request) => {
      const principal = await option.authenticate(requestForHost(request));
      return principal ?? null;
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
