/**
 * Where a webhook POSTs (`url`): an absolute http(s) URL without user info. fetch refuses a URL
 * with `user:password@` on every POST, with an error that spells the password out, so it is
 * refused here, when the webhook is created. Throws a `TypeError` naming `owner`.
 */
export function webhookUrl(owner: string, url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    throw new TypeError(`${owner}: url must be an absolute http or https URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new TypeError(`${owner}: url must be an absolute http or https URL`);
  if (parsed.username !== '' || parsed.password !== '') {
    throw new TypeError(`${owner}: url must not contain user info (user:password@); send the receiver's credentials in headers`);
  }
  return parsed;
}

/**
 * A webhook's extra request headers, checked when the webhook is created: fetch would refuse a
 * bad one on every POST, with an error that quotes the value (often the receiver's API key).
 * Throws a `TypeError` naming `owner` and the header, never its value.
 */
export function webhookHeaders(owner: string, headers: Record<string, string> | undefined): Record<string, string> {
  if (headers === undefined) return {};
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    throw new TypeError(`${owner}: headers must be an object of header names and string values`);
  }
  for (const [name, value] of Object.entries(headers)) {
    try {
      if (typeof value !== 'string') throw new TypeError('not a string');
      new Headers([[name, value]]);
    } catch {
      throw new TypeError(
        `${owner}: headers["${name.slice(0, 100)}"] is not a valid header: a token as name, and a string value of printable characters without line breaks`,
      );
    }
  }
  return { ...headers };
}
