/** Content-Type values: the media type and the charset, as the request and response sides read them. */

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;

/** The media type of a Content-Type value, lower-cased, without parameters. */
export function mediaTypeOf(contentType: string): string {
  const semicolon = contentType.indexOf(';');
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
}

/** True for `application/json` and `application/*+json` (a media type from {@link mediaTypeOf}). */
export function isJsonMediaType(mediaType: string): boolean {
  return mediaType === 'application/json' || (mediaType.startsWith('application/') && mediaType.endsWith('+json'));
}

/** The lower-cased `charset` parameter of a Content-Type value; undefined when it has none. */
export function charsetOf(contentType: string): string | undefined {
  if (contentType.indexOf(';') === -1) return undefined;
  return CHARSET.exec(contentType)?.[1]?.toLowerCase();
}

/** True when a charset label from {@link charsetOf} means UTF-8, or there is none. */
export function isUtf8Charset(charset: string | undefined): boolean {
  return charset === undefined || charset === 'utf-8' || charset === 'utf8';
}
