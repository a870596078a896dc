/** Whether a webhook's answer is worth another attempt: a timeout, a rate limit or a server error. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * What a webhook's failed answer says, for the error its sender reports. Webhooks are sent
 * with `redirect: 'manual'`: a 3xx is a failed delivery (following it would turn the POST into
 * a bodyless GET that looks delivered, or send the signed body to another origin).
 */
export function failedAnswer(what: string, response: Response): string {
  const redirect = response.status >= 300 && response.status < 400 ? ' (redirects are not followed)' : '';
  return `${what} answered ${response.status}${redirect}`;
}
