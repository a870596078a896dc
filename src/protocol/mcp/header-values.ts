/**
 * Reading the values of the 2026-07-28 mirrored headers (`Mcp-Name`, `Mcp-Param-*`):
 * optional white space around the value is dropped (RFC 9110 §5.5), only visible ASCII,
 * space and tab are accepted, and the `=?base64?…?=` sentinel carries UTF-8 in canonical
 * Base64.
 */

const sentinelPrefix = '=?base64?';
const sentinelSuffix = '?=';
const canonicalBase64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Drops leading and trailing spaces and tabs. */
export function trimOptionalWhiteSpace(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 0x20 || value.charCodeAt(start) === 0x09)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 0x20 || value.charCodeAt(end - 1) === 0x09)) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

function hasOnlyHeaderSafeCharacters(value: string): boolean {
  for (let index = 0; index < value.length; index++) {
    const code = value.charCodeAt(index);
    if (code !== 0x09 && (code < 0x20 || code > 0x7e)) return false;
  }
  return true;
}

/**
 * The value a mirrored header stands for, or `undefined` when it is malformed (characters
 * outside the header-safe set, or a sentinel whose payload is not canonical Base64 of
 * valid UTF-8). A value without the complete sentinel is taken literally.
 */
export function decodeMirroredHeaderValue(raw: string): string | undefined {
  const value = trimOptionalWhiteSpace(raw);
  if (!hasOnlyHeaderSafeCharacters(value)) return undefined;
  if (
    value.length < sentinelPrefix.length + sentinelSuffix.length ||
    !value.startsWith(sentinelPrefix) ||
    !value.endsWith(sentinelSuffix)
  ) {
    return value;
  }
  const payload = value.slice(sentinelPrefix.length, value.length - sentinelSuffix.length);
  if (!canonicalBase64.test(payload)) return undefined;
  try {
    return utf8.decode(Buffer.from(payload, 'base64'));
  } catch {
    return undefined;
  }
}
