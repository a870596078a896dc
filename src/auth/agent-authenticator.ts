import type { AgentRecord, Store } from '../store/types.js';
import { KEY_PREFIX, agentIdOfKey, bearerToken, digestsEqual, hashAgentKey } from './agent-keys.js';
import type { JwtVerifier } from './jwt.js';
import { tokenIdentity } from './token-identity.js';

/** Most agents kept in the cache; the least recently read go first. */
const maxCachedAgents = 10_000;

interface CachedAgent {
  readonly agent: AgentRecord;
  /** When the read that produced it started (the gateway's clock). */
  readonly readAt: number;
}

/**
 * Turns a presented agent key into an agent, or nothing. Missing, malformed, unknown,
 * revoked, expired and disabled keys are all simply "nothing", so every door answers
 * them with the same 401.
 *
 * With `cacheMs > 0`, an agent read from the store is reused for that long. The cache only
 * ever lets a call through sooner: a key that does not match the cached record, or a cached
 * agent that may not call, is checked against the store again. What it can delay is a
 * change made elsewhere (a revocation by another instance): {@link forget} drops cached
 * agents when such a change is announced, and `cacheMs` bounds the rest.
 */
export class AgentAuthenticator {
  private readonly cache = new Map<string, CachedAgent>();
  /** Reads under way (with `cacheMs > 0`): calls for an agent that is being read wait for that read. */
  private readonly reading = new Map<string, { generation: number; agent: Promise<AgentRecord | undefined> }>();
  /** Bumped by every {@link forget}: a read that started before it must not fill the cache, nor be joined. */
  private generation = 0;

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly cacheMs = 0,
    /** With JWT auth configured: verifies access tokens, which then act as agents. */
    private readonly tokens?: JwtVerifier,
  ) {}

  /**
   * The agent a presented credential stands for: a gateway key, or (with JWT auth) an access
   * token that acts as an agent. A good token of an agent that may call, lacking a required
   * scope, throws 403; one that cannot be checked (the issuer's keys or `resolveAgent`
   * failed) throws 503.
   */
  async byCredential(credential: string): Promise<AgentRecord | undefined> {
    if (this.tokens === undefined || credential.startsWith(KEY_PREFIX)) return this.byKey(credential);
    const verdict = await this.tokens.check(credential);
    if (verdict?.agentId === undefined) return undefined;
    // The agent first: a token of an agent that may not call gets the one 401, scopes or not.
    const agent = await this.byId(verdict.agentId);
    if (agent === undefined) return undefined;
    if (!verdict.scoped) throw this.tokens.insufficientScope();
    // The agent for this call, carrying who the token names into the call's audit events.
    return Object.freeze({ ...agent, [tokenIdentity]: verdict.identity });
  }

  /**
   * The agent whose current key this is, if it may call now. The key is hashed whatever its
   * shape, and the agent found by the id in it must hold that hash.
   */
  async byKey(key: string): Promise<AgentRecord | undefined> {
    const presentedHash = hashAgentKey(key);
    const agentId = agentIdOfKey(key);
    if (agentId === undefined) return undefined;
    const cached = this.cached(agentId);
    if (cached !== undefined && digestsEqual(presentedHash, cached.keyHash) && this.usable(cached)) return cached;
    const agent = await this.read(agentId);
    if (agent === undefined || !digestsEqual(presentedHash, agent.keyHash)) return undefined;
    return this.usable(agent) ? agent : undefined;
  }

  /** The agent with this id, if it may call now (programmatic `invoke({ agentId })`). */
  async byId(agentId: string): Promise<AgentRecord | undefined> {
    const cached = this.cached(agentId);
    if (cached !== undefined && this.usable(cached)) return cached;
    const agent = await this.read(agentId);
    return agent !== undefined && this.usable(agent) ? agent : undefined;
  }

  /** The agent of an `Authorization: Bearer` header. Credentials are never read from the query string. */
  async fromRequest(request: Request): Promise<AgentRecord | undefined> {
    const credential = bearerToken(request.headers.get('authorization'));
    return credential === undefined ? undefined : this.byCredential(credential);
  }

  /** Drops one cached agent (changed here), or all of them (changed somewhere, announced). */
  forget(agentId?: string): void {
    this.generation++;
    if (agentId === undefined) this.cache.clear();
    else this.cache.delete(agentId);
  }

  private cached(agentId: string): AgentRecord | undefined {
    if (this.cacheMs === 0) return undefined;
    const entry = this.cache.get(agentId);
    if (entry === undefined) return undefined;
    if (this.now() - entry.readAt < this.cacheMs) return entry.agent;
    this.cache.delete(agentId);
    return undefined;
  }

  /**
   * The agent as stored. With `cacheMs > 0` a read is shared: calls that find the agent being
   * read (and not forgotten since the read started) wait for it instead of reading again, so
   * an agent whose cache entry expires under load costs one read, not one per call in flight.
   */
  private read(agentId: string): Promise<AgentRecord | undefined> {
    if (this.cacheMs === 0) return this.store.getAgent(agentId);
    const underWay = this.reading.get(agentId);
    if (underWay !== undefined && underWay.generation === this.generation) return underWay.agent;
    const generation = this.generation;
    const agent = this.readAndCache(agentId, generation);
    const entry = { generation, agent };
    this.reading.set(agentId, entry);
    const done = () => {
      if (this.reading.get(agentId) === entry) this.reading.delete(agentId);
    };
    agent.then(done, done);
    return agent;
  }

  private async readAndCache(agentId: string, generation: number): Promise<AgentRecord | undefined> {
    const readAt = this.now();
    const stored = await this.store.getAgent(agentId);
    if (stored === undefined) return undefined;
    // Shared by every call that waited for this read and, cached, by every call until it
    // expires: a frozen copy, so nobody can change it (nor the store's object).
    const agent = Object.freeze({ ...stored, tags: Object.freeze([...stored.tags]) }) as AgentRecord;
    if (generation !== this.generation) return agent;
    this.cache.delete(agentId);
    this.cache.set(agentId, { agent, readAt });
    if (this.cache.size > maxCachedAgents) this.cache.delete(this.cache.keys().next().value as string);
    return agent;
  }

  private usable(agent: AgentRecord): boolean {
    if (agent.status !== 'active') return false;
    return agent.expiresAt === null || Date.parse(agent.expiresAt) > this.now();
  }
}
