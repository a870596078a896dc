import {
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  createLocalJWKSet,
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import { z } from 'zod';
import { GatewayError } from '../errors.js';

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
   * URL agents reach the MCP endpoint at, e.g. `'https://gateway.example.com/mcp'`.
   */
  audience: string | string[];
  /** Where the issuer publishes its public keys (JWK Set). Give this or `jwks`. */
  jwksUri?: string;
  /** The issuer's public keys, as a JWK Set. Give this or `jwksUri`. */
  jwks?: JSONWebKeySet;
  /** Accepted signature algorithms. Default: every asymmetric one (RS, PS, ES, EdDSA). */
  algorithms?: JwtAlgorithm[];
  /** Allowed clock skew for `exp` and `nbf`, in seconds. Default 30. */
  clockToleranceSeconds?: number;
  /** Scopes every token must carry (`scope` or `scp` claim); a token without them gets 403 `insufficient_scope`. */
  requiredScopes?: string[];
  /** The claim whose value is the agent id a token acts as. Default `'sub'`. */
  agentClaim?: string;
  /**
   * Which agent a verified token acts as: return its agent id, or nothing to refuse the token
   * (401). Replaces `agentClaim`. Runs once per token per minute at most (verified tokens are
   * remembered), so it may look things up.
   */
  resolveAgent?: (claims: JWTPayload) => string | null | undefined | Promise<string | null | undefined>;
  /**
   * RFC 9728 metadata at `/.well-known/oauth-protected-resource` (relative to `basePath`).
   * `resource` defaults to the first `audience`; `authorizationServers` to `[issuer]`;
   * `scopesSupported` to `requiredScopes`.
   */
  metadata?: {
    /**
     * The metadata's public URL, which every 401 points to. Default: built from the request's
     * URL (`{origin}{basePath}/.well-known/oauth-protected-resource`). Set it when a proxy in
     * front of the gateway changes the scheme (TLS ends at the proxy), the host or the path.
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

export const jwtAuthSchema = z
  .object({
    issuer: z.string().min(1),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    jwksUri: httpUrl.optional(),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).optional(),
    algorithms: z.array(z.enum(jwtAlgorithms)).min(1).optional(),
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
  .refine((value) => (value.jwksUri === undefined) !== (value.jwks === undefined), 'give exactly one of jwksUri and jwks');

/** Longest a verified token is remembered, so a key the issuer withdrew stops working within it. */
const rememberMs = 60_000;
/** Most tokens remembered; the oldest go first. */
const maxRemembered = 10_000;
/** Longer tokens are refused unread. */
const maxTokenLength = 16 * 1024;

interface RememberedToken {
  readonly agentId: string;
  readonly until: number;
}

/**
 * Verifies access tokens and names the agent each acts as. Verified tokens are remembered
 * for up to a minute (never past their `exp`), so a call costs one signature check a minute
 * per token; refused tokens are never remembered.
 */
export class JwtVerifier {
  private readonly keys: JWTVerifyGetKey;
  private readonly audience: string[];
  private readonly requiredScopes: readonly string[];
  private readonly remembered = new Map<string, RememberedToken>();

  constructor(
    private readonly options: JwtAuthOptions,
    private readonly now: () => number,
  ) {
    this.keys =
      options.jwksUri !== undefined
        ? createRemoteJWKSet(new URL(options.jwksUri), { timeoutDuration: 5000 })
        : createLocalJWKSet(options.jwks as JSONWebKeySet);
    this.audience = typeof options.audience === 'string' ? [options.audience] : [...options.audience];
    this.requiredScopes = options.requiredScopes ?? [];
  }

  /**
   * The agent id a token acts as; undefined when the token is not good (401). Throws 403
   * `FORBIDDEN` when a good token lacks a required scope, and 503 `AUTH_UNAVAILABLE` when the
   * issuer's keys cannot be fetched.
   */
  async agentIdOf(token: string): Promise<string | undefined> {
    const at = this.now();
    const known = this.remembered.get(token);
    if (known !== undefined) {
      if (known.until > at) return known.agentId;
      this.remembered.delete(token);
    }
    if (token.length > maxTokenLength) return undefined;
    const claims = await this.verify(token, at);
    if (claims === undefined) return undefined;
    const missing = this.requiredScopes.filter((scope) => !scopesOf(claims).has(scope));
    if (missing.length > 0) throw insufficientScope(this.requiredScopes);
    const agentId = await this.agentOf(claims);
    if (typeof agentId !== 'string' || agentId === '') return undefined;
    const until = Math.min(at + rememberMs, (claims.exp as number) * 1000);
    if (this.remembered.size >= maxRemembered) this.remembered.delete(this.remembered.keys().next().value as string);
    this.remembered.set(token, { agentId, until });
    return agentId;
  }

  /** The `scope` parameter of a challenge: the scopes a token needs, if any. */
  get challengeScope(): string | undefined {
    return this.requiredScopes.length > 0 ? this.requiredScopes.join(' ') : undefined;
  }

  /** The configured public URL of the metadata, if any. */
  get metadataUrl(): string | undefined {
    return this.options.metadata?.url;
  }

  /** The RFC 9728 metadata document. */
  metadata(): Record<string, unknown> {
    const { metadata = {} } = this.options;
    const scopes = metadata.scopesSupported ?? this.options.requiredScopes;
    return {
      resource: metadata.resource ?? this.audience[0],
      authorization_servers: metadata.authorizationServers ?? [this.options.issuer],
      bearer_methods_supported: ['header'],
      ...(scopes === undefined || scopes.length === 0 ? {} : { scopes_supported: scopes }),
      ...(metadata.resourceName === undefined ? {} : { resource_name: metadata.resourceName }),
      ...(metadata.resourceDocumentation === undefined ? {} : { resource_documentation: metadata.resourceDocumentation }),
    };
  }

  private async verify(token: string, at: number): Promise<JWTPayload | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.keys, {
        issuer: this.options.issuer,
        audience: this.audience,
        algorithms: this.options.algorithms ?? [...jwtAlgorithms],
        clockTolerance: this.options.clockToleranceSeconds ?? 30,
        requiredClaims: ['exp'],
        currentDate: new Date(at),
      });
      return payload;
    } catch (error) {
      if (isRefusedToken(error)) return undefined;
      throw new GatewayError({
        code: 'AUTH_UNAVAILABLE',
        message: "The access token could not be checked: the issuer's keys are unavailable",
        cause: error,
      });
    }
  }

  private async agentOf(claims: JWTPayload): Promise<unknown> {
    if (this.options.resolveAgent !== undefined) return this.options.resolveAgent(claims);
    return claims[this.options.agentClaim ?? 'sub'];
  }
}

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

function insufficientScope(required: readonly string[]): InsufficientScopeError {
  return new InsufficientScopeError({
    code: 'FORBIDDEN',
    message: `The access token lacks a required scope (${required.join(' ')})`,
    headers: { 'www-authenticate': `Bearer error="insufficient_scope", scope="${required.join(' ')}"` },
  });
}
