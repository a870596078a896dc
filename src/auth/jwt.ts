import { createHash } from 'node:crypto';
import {
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  createLocalJWKSet,
  decodeJwt,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import { z } from 'zod';
import { GatewayError, outage } from '../errors.js';
import { KeysUnavailable, RemoteKeySet } from './remote-key-set.js';
import type { TokenIdentity } from './token-identity.js';

/** Signature algorithms a token may use: asymmetric only, so a published key can never sign. */
export const jwtAlgorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

/** A signature algorithm of {@link JwtAuthOptions.algorithms}. */
export type JwtAlgorithm = (typeof jwtAlgorithms)[number];

/**
 * Agents authenticate with access tokens (JWTs) issued by your authorization server, besides
 * their gateway keys: the gateway is then an OAuth 2.1 resource server, as MCP's
 * authorization specification describes. A token must be signed by the issuer's key
 * (`jwksUri` or `jwks`), name the issuer (`iss`) and this gateway (`aud`, RFC 8707), and not be
 * expired (`exp` is required). It acts as one of the gateway's agents — by default the agent
 * whose id is the token's `sub` — so that agent's status, expiry, policy rules and records
 * apply exactly as with its key.
 *
 * @example
 * ```ts
 * const gateway = createGateway({
 *   tools,
 *   policy,
 *   jwt: {
 *     issuer: 'https://auth.example.com/',
 *     audience: 'https://gateway.example.com/mcp',
 *     jwksUri: 'https://auth.example.com/.well-known/jwks.json',
 *     requiredScopes: ['tools:call'],
 *     resolveAgent: (claims) => agentIds.get(String(claims.client_id)),
 *   },
 * });
 * ```
 */
export interface JwtAuthOptions {
  /** The issuer identifier every token's `iss` must equal, e.g. `'https://auth.example.com/'`. */
  issuer: string;
  /**
   * This gateway's resource identifier(s): a token's `aud` must name one (RFC 8707). Use the
   * URL agents reach the MCP endpoint at, e.g. `'https://gateway.example.com/mcp'`. Compared
   * exactly, as strings: `https://gateway.example.com/mcp/` or an upper-case host is another
   * audience. MCP clients ask for a token for the metadata's `resource` (the first audience)
   * as it is written, so the two agree; list every other spelling your authorization server
   * writes into `aud`.
   */
  audience: string | string[];
  /**
   * Where the issuer publishes its public keys (JWK Set): `https:` (`http:` only on loopback),
   * with no user name or password in it.
   * Give this or `jwks`. Fetched when first needed and every 10 minutes; a token naming a key
   * id the set lacks fetches it again (at most every 30 s). While fetches fail, the keys
   * fetched before stay in use for up to an hour; a token naming a key id they lack is then
   * answered 503 `AUTH_UNAVAILABLE`, as it cannot be checked.
   */
  jwksUri?: string;
  /** The issuer's public keys, as a JWK Set. Give this or `jwksUri`. */
  jwks?: JSONWebKeySet;
  /** Accepted signature algorithms. Default: every asymmetric one (RS, PS, ES, EdDSA). */
  algorithms?: JwtAlgorithm[];
  /**
   * The `typ` header every token must carry, e.g. `'at+jwt'` where your issuer follows RFC
   * 9068: then an ID token, whose audience may be the same, never passes for an access token.
   * Default: not checked (many issuers send `JWT`).
   */
  tokenType?: string;
  /** Allowed clock skew for `exp`, `nbf` and `iat` (a token issued further in the future is refused), in seconds. Default 30. */
  clockToleranceSeconds?: number;
  /** Scopes every token must carry (`scope` or `scp` claim); a token without them gets 403 `insufficient_scope`. */
  requiredScopes?: string[];
  /** The claim whose value is the agent id a token acts as. Default `'sub'`. */
  agentClaim?: string;
  /**
   * Which agent a verified token acts as: return its agent id, or nothing to refuse the token
   * (401). Replaces `agentClaim`. Runs at most once per token a minute (its answer is
   * remembered, and calls with a token being checked wait for that check), so it may look
   * things up; if it throws or takes over 5 s, the call gets 503 `AUTH_UNAVAILABLE`.
   */
  resolveAgent?: (claims: JWTPayload) => string | null | undefined | Promise<string | null | undefined>;
  /**
   * RFC 9728 metadata at `/.well-known/oauth-protected-resource` (relative to `basePath`),
   * and at the URL RFC 9728 derives from `resource`. `resource` defaults to the first
   * `audience`, `authorizationServers` to `[issuer]` (each must then be an http(s) URL),
   * `scopesSupported` to `requiredScopes`.
   */
  metadata?: {
    /**
     * The metadata's public URL, which every 401 points to. Default: built from the request's
     * origin and the path the gateway is served at (`{origin}{mount}/.well-known/oauth-protected-resource`,
     * the mount being an adapter's, else `basePath`). Set it when a proxy in front of the
     * gateway changes the scheme (TLS ends at the proxy), the host or the path.
     */
    url?: string;
    resource?: string;
    authorizationServers?: string[];
    scopesSupported?: string[];
    resourceName?: string;
    resourceDocumentation?: string;
  };
}

const httpUrl = z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' });
const isHttpUrl = (value: string) => httpUrl.safeParse(value).success;
const loopbackHosts = new Set(['localhost', '127.0.0.1', '[::1]']);

export const jwtAuthSchema = z
  .object({
    issuer: z.string().min(1),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
      error: 'must be a non-empty string or a non-empty list of them',
    }),
    jwksUri: httpUrl
      .refine((value) => {
        const url = new URL(value);
        return url.protocol === 'https:' || loopbackHosts.has(url.hostname);
      }, 'must be an https URL (http only on loopback): whoever can change the keys can sign tokens')
      .refine((value) => {
        const url = new URL(value);
        return url.username === '' && url.password === '';
      }, 'must not carry a user name or password (fetch refuses such URLs)')
      .optional(),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).optional(),
    algorithms: z.array(z.enum(jwtAlgorithms)).min(1).optional(),
    tokenType: z.string().min(1).optional(),
    clockToleranceSeconds: z.number().int().min(0).max(300).optional(),
    requiredScopes: z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'must be a scope token')).optional(),
    agentClaim: z.string().min(1).optional(),
    resolveAgent: z.custom<JwtAuthOptions['resolveAgent']>((value) => typeof value === 'function', 'must be a function').optional(),
    metadata: z
      .object({
        url: httpUrl.optional(),
        resource: httpUrl.optional(),
        authorizationServers: z.array(httpUrl).min(1).optional(),
        scopesSupported: z.array(z.string().min(1)).optional(),
        resourceName: z.string().min(1).optional(),
        resourceDocumentation: httpUrl.optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((value, context) => {
    if ((value.jwksUri === undefined) === (value.jwks === undefined)) {
      context.addIssue({ code: 'custom', message: 'give exactly one of jwksUri and jwks' });
    }
    const firstAudience = typeof value.audience === 'string' ? value.audience : value.audience[0];
    if (value.metadata?.resource === undefined && firstAudience !== undefined && !isHttpUrl(firstAudience)) {
      context.addIssue({
        code: 'custom',
        path: ['metadata', 'resource'],
        message: 'required when the first audience is not an http(s) URL (clients need the resource as a URL)',
      });
    }
    if (value.metadata?.authorizationServers === undefined && !isHttpUrl(value.issuer)) {
      context.addIssue({
        code: 'custom',
        path: ['metadata', 'authorizationServers'],
        message: 'required when the issuer is not an http(s) URL',
      });
    }
  });

/** Longest a token's verdict is remembered, so a key the issuer withdrew stops working within it. */
const rememberMs = 60_000;
/** Most verdicts remembered; the oldest go first. */
const maxRemembered = 10_000;
/** Longer tokens are refused unread. */
const maxTokenLength = 16 * 1024;
/** Most keys tried for a token without a `kid` that several keys could have signed. */
const maxCandidateKeys = 4;
/** Longest `resolveAgent` may take. */
const resolveTimeoutMs = 5000;

/** What a verified token stands for: the agent it acts as (none: refused), whether it has the required scopes, and who it names. */
export interface TokenVerdict {
  readonly agentId: string | undefined;
  readonly scoped: boolean;
  readonly identity: TokenIdentity;
}

const maxIdentityLength = 256;

/** At most {@link maxIdentityLength} UTF-16 units, never half of a surrogate pair. */
function cut(value: string): string {
  if (value.length <= maxIdentityLength) return value;
  const head = value.slice(0, maxIdentityLength);
  const last = head.charCodeAt(head.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? head.slice(0, -1) : head;
}

function identityOf(claims: JWTPayload, issuer: string): TokenIdentity {
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? cut(value) : undefined);
  const clientId = text(claims.client_id) ?? text(claims.azp);
  const subject = text(claims.sub);
  const tokenId = text(claims.jti);
  return Object.freeze({
    ...(clientId === undefined ? {} : { clientId }),
    issuer,
    ...(subject === undefined ? {} : { subject }),
    ...(tokenId === undefined ? {} : { tokenId }),
  });
}

/**
 * Verifies access tokens and names the agent each acts as. A verified token's verdict is
 * remembered for up to a minute (never past its `exp`), keyed by the token's SHA-256, and
 * calls with a token being checked wait for that check: a token costs one signature check
 * and one `resolveAgent` a minute. Tokens that fail verification are never remembered.
 */
export class JwtVerifier {
  private readonly keys: JWTVerifyGetKey;
  private readonly audience: string[];
  private readonly requiredScopes: readonly string[];
  private readonly remembered = new Map<string, { verdict: TokenVerdict; until: number }>();
  private readonly checking = new Map<string, Promise<TokenVerdict | undefined>>();
  /** The RFC 9728 document, as served. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** The path RFC 9728 derives from the resource (`/.well-known/oauth-protected-resource/mcp` for `…/mcp`). */
  readonly resourceMetadataPath: string;
  /** The configured public URL of the metadata, normalised; undefined to build it from each request. */
  readonly metadataUrl: string | undefined;

  /** Messages of keys found unusable and told to `onKeyProblem` (once each, the first few). */
  private readonly reportedKeyProblems = new Set<string>();

  /**
   * @param onKeyProblem Told, once per kind of problem, that a token named a key of the
   *   issuer's that cannot be used (an RSA key under 2,048 bits, a malformed JWK): its tokens
   *   are refused like forged ones. Also told, once per run of failures, that the issuer's
   *   key set (`jwksUri`) could not be fetched again while the keys fetched before still serve.
   */
  constructor(
    private readonly options: JwtAuthOptions,
    private readonly now: () => number,
    private readonly onKeyProblem: (error: Error) => void = () => undefined,
  ) {
    this.keys =
      options.jwksUri !== undefined
        ? new RemoteKeySet(new URL(options.jwksUri), now, (error) => onKeyProblem(error)).getKey
        : createLocalJWKSet(options.jwks as JSONWebKeySet);
    this.audience = typeof options.audience === 'string' ? [options.audience] : [...options.audience];
    this.requiredScopes = options.requiredScopes ?? [];
    const { metadata = {} } = options;
    const resource = metadata.resource ?? (this.audience[0] as string);
    const scopes = metadata.scopesSupported ?? options.requiredScopes;
    this.metadata = Object.freeze({
      resource,
      authorization_servers: metadata.authorizationServers ?? [options.issuer],
      bearer_methods_supported: ['header'],
      ...(scopes === undefined || scopes.length === 0 ? {} : { scopes_supported: scopes }),
      ...(metadata.resourceName === undefined ? {} : { resource_name: metadata.resourceName }),
      ...(metadata.resourceDocumentation === undefined ? {} : { resource_documentation: metadata.resourceDocumentation }),
    });
    const resourcePath = new URL(resource).pathname.replace(/\/$/, '');
    this.resourceMetadataPath = `${protectedResourcePath}${resourcePath}`;
    this.metadataUrl = metadata.url === undefined ? undefined : new URL(metadata.url).href;
  }

  /**
   * What a token stands for; undefined when it is not a good token (401). Throws 503
   * `AUTH_UNAVAILABLE` when it cannot be checked: the issuer's keys cannot be had, or
   * `resolveAgent` failed.
   */
  async check(token: string): Promise<TokenVerdict | undefined> {
    if (token.length > maxTokenLength) return undefined;
    const key = createHash('sha256').update(token).digest('base64');
    const known = this.remembered.get(key);
    if (known !== undefined) {
      if (known.until > this.now()) return known.verdict;
      this.remembered.delete(key);
    }
    const underWay = this.checking.get(key);
    if (underWay !== undefined) return underWay;
    const checked = this.verifyAndResolve(token, key).finally(() => this.checking.delete(key));
    this.checking.set(key, checked);
    return checked;
  }

  /**
   * True when a token, read without checking its signature, names this issuer and one of the
   * gateway's audiences: one meant for the agent doors. Enough to refuse it where agents may
   * not go (admin routes), never to let it in.
   */
  isMeantForAgents(token: string): boolean {
    if (token.length > maxTokenLength) return false;
    let claims: JWTPayload;
    try {
      claims = decodeJwt(token);
    } catch {
      return false;
    }
    const audiences = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
    return claims.iss === this.options.issuer && audiences.some((audience) => this.audience.includes(audience));
  }

  /** The 403 for a good token without a required scope; the doors add the challenge. */
  insufficientScope(): InsufficientScopeError {
    return new InsufficientScopeError({
      code: 'FORBIDDEN',
      message: `The access token lacks a required scope (${this.requiredScopes.join(' ')})`,
    });
  }

  /** The `scope` parameter of a challenge: the scopes a token needs, if any. */
  get challengeScope(): string | undefined {
    return this.requiredScopes.length > 0 ? this.requiredScopes.join(' ') : undefined;
  }

  private async verifyAndResolve(token: string, key: string): Promise<TokenVerdict | undefined> {
    const at = this.now();
    const claims = await this.verify(token, at);
    // `exp` is a number (jose checks), but JSON's 1e400 is one too: a token for ever is refused.
    if (claims === undefined || !Number.isFinite(claims.exp)) return undefined;
    // Issued in the future (beyond the clock skew allowed): the issuer's clock or keys are not to be trusted.
    if (typeof claims.iat === 'number' && claims.iat > at / 1000 + this.clockTolerance) return undefined;
    const agentId = await this.agentOf(claims);
    const scopes = scopesOf(claims);
    const verdict: TokenVerdict = {
      agentId: typeof agentId === 'string' && agentId !== '' ? agentId : undefined,
      scoped: this.requiredScopes.every((scope) => scopes.has(scope)),
      // The issuer as configured: jose checked that `iss` is exactly it.
      identity: identityOf(claims, this.options.issuer),
    };
    if (this.remembered.size >= maxRemembered) this.remembered.delete(this.remembered.keys().next().value as string);
    this.remembered.set(key, { verdict, until: Math.min(at + rememberMs, (claims.exp as number) * 1000) });
    return verdict;
  }

  private async verify(token: string, at: number): Promise<JWTPayload | undefined> {
    const options = {
      issuer: this.options.issuer,
      audience: this.audience,
      algorithms: this.options.algorithms ?? [...jwtAlgorithms],
      clockTolerance: this.clockTolerance,
      requiredClaims: ['exp'],
      currentDate: new Date(at),
      ...(this.options.tokenType === undefined ? {} : { typ: this.options.tokenType }),
    };
    try {
      return (await jwtVerify(token, this.keys, options)).payload;
    } catch (error) {
      if (error instanceof joseErrors.JWKSMultipleMatchingKeys) return this.verifyWithEach(token, error, options);
      // Retry-After 5: no new fetch of the issuer's keys is tried for 5 s after a failed one.
      if (error instanceof KeysUnavailable) {
        throw outage('AUTH_UNAVAILABLE', "The access token could not be checked: the issuer's keys are unavailable", error.cause);
      }
      // Anything else is the token's, or the key's it names: refused, as a forged one is.
      if (!isRefusedToken(error)) this.reportKeyProblem(error);
      return undefined;
    }
  }

  private get clockTolerance(): number {
    return this.options.clockToleranceSeconds ?? 30;
  }

  /** A key the token names could not be used: told once per message (the first 16), as anyone may send such tokens. */
  private reportKeyProblem(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (this.reportedKeyProblems.has(message) || this.reportedKeyProblems.size >= 16) return;
    this.reportedKeyProblems.add(message);
    this.onKeyProblem(new Error(`A token was refused: the issuer's key it names cannot be used (${message})`, { cause: error }));
  }

  /**
   * A token without a `kid` (or with one several keys share) that several of the issuer's keys
   * could have signed (during a key rotation, say): each is tried, the first few only, so a
   * forged token costs a bounded number of signature checks. A key that cannot be used (an
   * RSA key under 2,048 bits) is passed over, onError hearing of it once, as it would be if
   * the set did not have it: it must not refuse a token another key signed.
   */
  private async verifyWithEach(
    token: string,
    candidates: joseErrors.JWKSMultipleMatchingKeys,
    options: Parameters<typeof jwtVerify>[2],
  ): Promise<JWTPayload | undefined> {
    let tried = 0;
    for await (const key of candidates) {
      if (++tried > maxCandidateKeys) break;
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (error) {
        if (error instanceof joseErrors.JWSSignatureVerificationFailed) continue;
        // The signature checked out but the claims did not, or the token is malformed: refused.
        if (isRefusedToken(error)) return undefined;
        this.reportKeyProblem(error);
      }
    }
    return undefined;
  }

  private async agentOf(claims: JWTPayload): Promise<unknown> {
    const { resolveAgent } = this.options;
    if (resolveAgent === undefined) return claims[this.options.agentClaim ?? 'sub'];
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        resolveAgent(claims),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`resolveAgent took over ${resolveTimeoutMs} ms`)), resolveTimeoutMs);
          timer.unref();
        }),
      ]);
    } catch (error) {
      throw outage('AUTH_UNAVAILABLE', 'The access token could not be checked: its agent could not be resolved', error);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Where RFC 9728 metadata is served (relative to `basePath`). */
export const protectedResourcePath = '/.well-known/oauth-protected-resource';

/**
 * True when verification failed because of the token itself (bad signature, claims, shape, an
 * algorithm or key the issuer does not have), not because the keys could not be had.
 */
function isRefusedToken(error: unknown): boolean {
  return (
    error instanceof joseErrors.JWTExpired ||
    error instanceof joseErrors.JWTClaimValidationFailed ||
    error instanceof joseErrors.JWTInvalid ||
    error instanceof joseErrors.JWSInvalid ||
    error instanceof joseErrors.JWSSignatureVerificationFailed ||
    error instanceof joseErrors.JOSEAlgNotAllowed ||
    error instanceof joseErrors.JOSENotSupported ||
    error instanceof joseErrors.JWKSNoMatchingKey ||
    error instanceof joseErrors.JWKSMultipleMatchingKeys ||
    error instanceof joseErrors.JWKInvalid
  );
}

/** The scopes a token carries: `scope` (space-separated, RFC 9068) or `scp` (a list or a string). */
function scopesOf(claims: JWTPayload): Set<string> {
  const scopes = new Set<string>();
  for (const value of [claims.scope, claims.scp]) {
    const list = typeof value === 'string' ? value.split(' ') : Array.isArray(value) ? value : [];
    for (const scope of list) if (typeof scope === 'string' && scope !== '') scopes.add(scope);
  }
  return scopes;
}

/** A good token without a required scope (403): the doors add the challenge that says which. */
export class InsufficientScopeError extends GatewayError {}
