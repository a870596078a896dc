import { GatewayError } from '../errors.js';
import type { AuditEvent, AuditFilter } from './types.js';

/** `prevHash` of the first audit entry. */
export const GENESIS_HASH = '0'.repeat(64);

/** The largest page a list hands out; `?limit=` on the list routes takes 1 to this. */
export const MAX_PAGE_SIZE = 1000;

/** A page size within 1..max, defaulting to 50. */
export function clampLimit(limit: number | undefined, max: number): number {
  if (limit === undefined || !Number.isFinite(limit)) return Math.min(50, max);
  return Math.max(1, Math.min(Math.trunc(limit), max));
}

/** An opaque cursor for a non-negative integer position. */
export function encodeCursor(position: number): string {
  return Buffer.from(`c${position}`).toString('base64url');
}

/** Reads a cursor made by {@link encodeCursor}; anything else is a 400. */
export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString();
  const position = /^c(\d{1,15})$/.exec(text)?.[1];
  // Node's base64url decoder skips what it cannot read (`=`, NUL, spaces, dots), so many
  // strings decode to a cursor's text: only the exact one encodeCursor makes is accepted.
  if (position === undefined || encodeCursor(Number(position)) !== cursor) {
    throw new GatewayError({ code: 'BAD_REQUEST', message: 'Invalid cursor' });
  }
  return Number(position);
}

/** Whether an agent is as `updateAgent`'s `expected` says: its key, and its status and last change when given. */
export function agentIsAsExpected(
  agent: { keyHash: string; status: string; updatedAt: string },
  expected: { keyHash: string; status?: string; updatedAt?: string },
): boolean {
  return (
    agent.keyHash === expected.keyHash &&
    (expected.status === undefined || agent.status === expected.status) &&
    (expected.updatedAt === undefined || agent.updatedAt === expected.updatedAt)
  );
}

/**
 * Whether an agent patch would make a revoked agent usable again (a status other than
 * `'revoked'`, or a new key), which `Store.updateAgent` refuses: revocation is final.
 */
export function revives(patch: { status?: string; keyHash?: string }): boolean {
  return (patch.status !== undefined && patch.status !== 'revoked') || patch.keyHash !== undefined;
}

/**
 * Whether an audit event passes the event filters of `listAudit`: `type` (the type itself or
 * a sub-type: `approval` matches `approval.decided`), `agentId`, `tool`, and `from`
 * (inclusive) and `to` (exclusive) on `at`. The seq bounds and paging are the caller's.
 * Without event filters anything passes, even what is no event (a damaged row, for
 * verification to report); with them, only an event.
 */
export function auditEventMatches(event: AuditEvent, filter: AuditFilter): boolean {
  const { type, agentId, tool, from, to } = filter;
  if (type === undefined && agentId === undefined && tool === undefined && from === undefined && to === undefined) return true;
  if (typeof event !== 'object' || event === null) return false;
  return (
    (type === undefined || event.type === type || (typeof event.type === 'string' && event.type.startsWith(`${type}.`))) &&
    (agentId === undefined || event.agentId === agentId) &&
    (tool === undefined || event.tool === tool) &&
    (from === undefined || event.at >= from) &&
    (to === undefined || event.at < to)
  );
}
