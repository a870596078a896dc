import type { GatewayError } from '../errors.js';

/** The last millisecond a `Date` can hold: a `Retry-After` past it names no instant. */
const LAST_DATE_MS = 8_640_000_000_000_000;

/**
 * The instant (ms since the epoch) an error's `Retry-After` header names when it is answered
 * at `now`: delta-seconds counted from `now`, or an HTTP-date as it is. Undefined when the
 * error has no such header, or one that names no instant.
 */
export function retryInstantOf(error: GatewayError, now: number): number | undefined {
  const headers = error.headers;
  if (headers === undefined) return undefined;
  let value: string | undefined;
  for (const name of Object.keys(headers)) {
    if (name.toLowerCase() === 'retry-after') value = headers[name];
  }
  return retryAfterInstant(value, now);
}

/**
 * The instant (ms since the epoch) a `Retry-After` value names when it is received at `now`
 * (RFC 9110: delta-seconds, or an HTTP-date); undefined when it is absent or names no instant.
 */
export function retryAfterInstant(value: string | null | undefined, now: number): number | undefined {
  const trimmed = value?.trim();
  if (trimmed === undefined || trimmed === '') return undefined;
  // Digits only are seconds (Date.parse would read "30" as a year); every HTTP-date form names
  // its day or month in letters, so "1.5" or "-3" names nothing (Date.parse reads them as dates).
  const instant = /^\d+$/.test(trimmed) ? now + Number(trimmed) * 1000 : /[A-Za-z]/.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
  return Number.isFinite(instant) && Math.abs(instant) <= LAST_DATE_MS ? instant : undefined;
}

/**
 * `Retry-After` (delta-seconds) for an answer given again at `now`, of a first answer that
 * named `retryAt`: the whole seconds left until then, 0 once it has passed.
 */
export function retryAfterAt(retryAt: string, now: number): Record<string, string> | undefined {
  const instant = Date.parse(retryAt);
  if (!Number.isFinite(instant)) return undefined;
  return { 'retry-after': String(Math.max(0, Math.ceil((instant - now) / 1000))) };
}
