import type { AgentRecord, Store } from '../store/types.js';
import { agentIdOfKey, bearerToken, digestsEqual, hashAgentKey } from './agent-keys.js';

/**
 * Turns a presented agent key into an agent, or nothing. Missing, malformed, unknown,
 * revoked, expired and disabled keys are all simply "nothing", so every door answers
 * them with the same 401.
 */
export class AgentAuthenticator {
  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {}

  /**
   * The agent whose current key this is, if it may call now. The key is hashed whatever its
   * shape, and the agent found by the id in it must hold that hash.
   */
  async byKey(key: string): Promise<AgentRecord | undefined> {
    const presentedHash = hashAgentKey(key);
    const agentId = agentIdOfKey(key);
    if (agentId === undefined) return undefined;
    const agent = await this.store.getAgent(agentId);
    if (agent === undefined || !digestsEqual(presentedHash, agent.keyHash)) return undefined;
    return this.usable(agent) ? agent : undefined;
  }

  /** The agent with this id, if it may call now (programmatic `invoke({ agentId })`). */
  async byId(agentId: string): Promise<AgentRecord | undefined> {
    const agent = await this.store.getAgent(agentId);
    return agent !== undefined && this.usable(agent) ? agent : undefined;
  }

  /** The agent of an `Authorization: Bearer` header. Keys are never read from the query string. */
  async fromRequest(request: Request): Promise<AgentRecord | undefined> {
    const key = bearerToken(request.headers.get('authorization'));
    return key === undefined ? undefined : this.byKey(key);
  }

  private usable(agent: AgentRecord): boolean {
    if (agent.status !== 'active') return false;
    return agent.expiresAt === null || Date.parse(agent.expiresAt) > this.now();
  }
}
