import { type JSONWebKeySet, type JWTVerifyGetKey, createLocalJWKSet, errors as joseErrors } from 'jose';
import { readLimitedBytes } from '../util/limited-body.js';

/** Keys are fetched again once they are this old. */
const maxAgeMs = 10 * 60_000;
/** A token with a key id the set lacks fetches the set again at most this often. */
const cooldownMs = 30_000;
/** After a failed fetch, none is tried again for this long. */
const retryMs = 5000;
/** While fetches fail, the last keys fetched stay in use this long past their age. */
const maxStaleMs = 60 * 60_000;
const timeoutMs = 5000;
/** A larger key set is refused. */
const maxBytes = 1024 * 1024;

/**
 * No keys to check a token with: the issuer's key set could not be fetched. `cause` is the
 * failure of the last fetch, the same object for every call it answers.
 */
export class KeysUnavailable extends Error {
  constructor(cause: unknown) {
    super("The issuer's keys are unavailable", { cause });
  }
}

/**
 * An issuer's published keys (a JWK Set at an http(s) URL), fetched when first needed and
 * again when they are 10 minutes old, or when a token names a key id they lack (at most every
 * 30 s). Concurrent needs share one fetch. Keys that are due are still used while a fetch,
 * started in the background, brings the new ones, so a slow or hanging issuer holds up no call
 * while there are usable keys; a call waits for a fetch only when there are none, or for a key
 * id the set lacks. When a fetch fails, the keys fetched before stay in use (up to an hour
 * past their age) and no fetch is tried for 5 s, so an issuer outage is neither a gateway
 * outage nor a storm of fetches; without any keys, or for a key id the keys lack while no
 * fetch can bring them anew, verification fails with the last fetch's error ({@link
 * KeysUnavailable}: the token cannot be checked, which is not to say it is forged). The first
 * failed fetch that leaves older keys in use is told to `onStale`, once until a fetch succeeds
 * again. A key set over 1 MiB is refused without being read past that.
 */
export class RemoteKeySet {
  private keys: JWTVerifyGetKey | undefined;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private failedAt = Number.NEGATIVE_INFINITY;
  private failure: unknown;
  private loading: Promise<void> | undefined;
  /** The current run of failed fetches was told of (reset by a fetch that succeeds). */
  private staleReported = false;
  /** A call waits for the fetch under way: if it fails, that call's 503 tells of it. */
  private awaited = false;

  /**
   * @param onStale Told once per run of failed fetches, at the first one that leaves the
   *   keys fetched before in use: calls still verify, but a key the issuer adds or withdraws
   *   is not seen, and an hour past the keys' age every call gets 503.
   */
  constructor(
    private readonly url: URL,
    private readonly now: () => number,
    private readonly onStale: (error: Error) => void = () => undefined,
  ) {}

  /** The key resolver `jwtVerify` takes. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const keys = await this.usableKeys();
    try {
      return await keys(header, token);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey) || this.now() - this.fetchedAt < cooldownMs) throw error;
      await this.load();
      // No fetch brought the keys anew (it failed, or one failed within `retryMs`): whether the
      // issuer has this key cannot be told, so the token cannot be checked (503), not refused.
      if (this.now() - this.fetchedAt >= cooldownMs) throw new KeysUnavailable(this.failure ?? error);
      return (this.keys as JWTVerifyGetKey)(header, token);
    }
  };

  /**
   * The keys at hand while they are usable, with a background fetch started once they are
   * due; otherwise the keys a fetch brings (waited for).
   */
  private async usableKeys(): Promise<JWTVerifyGetKey> {
    if (this.keys !== undefined && this.usable()) {
      if (this.now() - this.fetchedAt >= maxAgeMs) void this.refresh();
      return this.keys;
    }
    await this.load();
    return this.keys as JWTVerifyGetKey;
  }

  /** Fetches the keys and waits for them; throws {@link KeysUnavailable} only when there are no usable keys. */
  private async load(): Promise<void> {
    const loading = this.refresh();
    this.awaited = true;
    await loading;
    if (this.keys !== undefined && this.usable()) return;
    throw new KeysUnavailable(this.failure ?? new Error('no keys'));
  }

  /**
   * The fetch under way, else a new one unless a fetch failed within `retryMs`. Never
   * rejects: a failure is kept for {@link load} to throw once no usable keys are left.
   */
  private refresh(): Promise<void> | undefined {
    if (this.loading === undefined && this.now() - this.failedAt >= retryMs) {
      this.awaited = false;
      this.loading = this.fetchKeys().finally(() => {
        this.loading = undefined;
      });
    }
    return this.loading;
  }

  private usable(): boolean {
    return this.now() - this.fetchedAt < maxAgeMs + maxStaleMs;
  }

  private async fetchKeys(): Promise<void> {
    try {
      const response = await fetch(this.url, {
        headers: { accept: 'application/json' },
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (response.status !== 200) {
        await response.body?.cancel();
        throw new Error(`the key set answered ${response.status}`);
      }
      this.keys = createLocalJWKSet(JSON.parse(await readLimited(response)) as JSONWebKeySet);
      this.fetchedAt = this.now();
      this.failure = undefined;
      this.staleReported = false;
    } catch (error) {
      this.failedAt = this.now();
      this.failure = error;
      // A call waiting for this fetch fails with its error, and the gateway reports it there
      // (as it does for every call once no usable keys are left).
      if (!this.staleReported && this.keys !== undefined && this.usable()) {
        this.staleReported = true;
        if (this.awaited) return;
        const until = new Date(this.fetchedAt + maxAgeMs + maxStaleMs).toISOString();
        this.onStale(
          new Error(`The issuer's keys could not be fetched again; the keys fetched before stay in use until ${until}`, { cause: error }),
        );
      }
    }
  }
}

/**
 * The body as text, refused (and no more of it read) once it is over {@link maxBytes}: at
 * once when its declared length is, else when the bytes read so far are.
 */
async function readLimited(response: Response): Promise<string> {
  const tooLarge = () => new Error(`the key set is larger than ${maxBytes} bytes`);
  if (Number(response.headers.get('content-length')) > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  if (response.body === null) return '';
  return new TextDecoder().decode(await readLimitedBytes(response.body, maxBytes, tooLarge));
}
