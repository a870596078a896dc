import { z } from 'zod';
import { newAgentId, newAgentKey, hashAgentKey } from '../auth/agent-keys.js';
import { GatewayError } from '../errors.js';
import type { AgentRecord, ListOptions, Page, Store } from '../store/types.js';

/** An agent as management responses show it: never the key or its hash. */
export type AgentView = Omit<AgentRecord, 'keyHash'>;

/** What creating an agent returns: the key is shown this once. */
export interface AgentWithKey {
  agent: AgentView;
  /** `atg_<id>_<secret>`: store it now, it cannot be shown again. */
  apiKey: string;
}

export const createAgentSchema = z
  .object({
    name: z.string().min(1).max(200),
    tags: z.array(z.string().min(1).max(100)).max(100).optional(),
    expiresAt: z
      .union([z.iso.datetime({ offset: true }), z.null()], { error: 'must be an ISO 8601 date-time with an offset, or null' })
      .optional(),
  })
  .strict();

/**
 * A change made in the store, and how to put back what it changed: a change the audit trail
 * cannot record does not stand.
 */
export interface AdminChange<T> {
  value: T;
  /** Puts back what the change replaced, unless another change came since. */
  undo(): Promise<void>;
}

/** How often a status change reads the agent again when another change came between its read and its write. */
const STATUS_WRITE_ATTEMPTS = 5;

/** Why a revoked agent's status does not change. */
function revokedConflict(status: 'active' | 'disabled' | 'revoked'): GatewayError {
  const message =
    status === 'active'
      ? 'A revoked agent cannot be re-enabled; create a new agent'
      : 'A revoked agent cannot be disabled: revocation is final';
  return new GatewayError({ code: 'CONFLICT', message });
}

/** Input of `admin.createAgent`. */
export type CreateAgentInput = z.infer<typeof createAgentSchema>;

export function toAgentView(agent: AgentRecord): AgentView {
  const { keyHash: _keyHash, ...view } = agent;
  return view;
}

export function notFound(what: string): GatewayError {
  return new GatewayError({ code: 'NOT_FOUND', message: `${what} not found` });
}

/** Agent lifecycle operations over the store. */
export class AgentAdministration {
  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {}

  async create(input: CreateAgentInput): Promise<AdminChange<AgentWithKey>> {
    const parsed = parseBody(createAgentSchema, input);
    const id = newAgentId();
    const apiKey = newAgentKey(id);
    const at = new Date(this.now()).toISOString();
    const agent: AgentRecord = {
      id,
      name: parsed.name,
      tags: parsed.tags ?? [],
      status: 'active',
      keyHash: hashAgentKey(apiKey),
      createdAt: at,
      updatedAt: at,
      expiresAt: parsed.expiresAt ? new Date(parsed.expiresAt).toISOString() : null,
    };
    await this.store.createAgent(agent);
    return {
      value: { agent: toAgentView(agent), apiKey },
      // The store deletes no agent: revoked, with its key never shown, it never worked.
      undo: async () => {
        await this.store.updateAgent(id, { status: 'revoked', updatedAt: new Date(this.now()).toISOString() });
      },
    };
  }

  async get(id: string): Promise<AgentView> {
    const agent = await this.store.getAgent(id);
    if (agent === undefined) throw notFound('Agent');
    return toAgentView(agent);
  }

  async list(options?: ListOptions): Promise<Page<AgentView>> {
    const page = await this.store.listAgents(options);
    return { ...page, items: page.items.map(toAgentView) };
  }

  /**
   * Enables, disables or revokes an agent. Revocation is final: enabling or disabling a
   * revoked agent is refused with 409 `CONFLICT`, even when it races the revocation.
   */
  async setStatus(id: string, status: 'active' | 'disabled' | 'revoked'): Promise<AdminChange<AgentView>> {
    // Written over the state read (compare-and-set), so that an undo puts back what this change
    // replaced, never an older state over another admin's change; a change made meanwhile is
    // read again and written over, as an unconditional write would have been.
    for (let attempt = 0; attempt < STATUS_WRITE_ATTEMPTS; attempt++) {
      const previous = await this.store.getAgent(id);
      if (previous === undefined) throw notFound('Agent');
      // The store refuses to revive a revoked agent, atomically: read only to say why it refused.
      if (previous.status === 'revoked' && status !== 'revoked') throw revokedConflict(status);
      const updated = await this.store.updateAgent(
        id,
        { status, updatedAt: new Date(this.now()).toISOString() },
        { keyHash: previous.keyHash, status: previous.status, updatedAt: previous.updatedAt },
      );
      if (updated === undefined) continue;
      return {
        value: toAgentView(updated),
        // A revocation is final, and stands; a disable or enable is put back unless the agent changed since.
        undo: async () => {
          if (status === 'revoked') return;
          await this.store.updateAgent(
            id,
            { status: previous.status, updatedAt: previous.updatedAt },
            { keyHash: updated.keyHash, status: updated.status, updatedAt: updated.updatedAt },
          );
        },
      };
    }
    const current = await this.store.getAgent(id);
    if (current === undefined) throw notFound('Agent');
    if (current.status === 'revoked' && status !== 'revoked') throw revokedConflict(status);
    throw new GatewayError({ code: 'CONFLICT', message: 'The agent kept changing while this change was made; read it again and retry' });
  }

  /**
   * A new key for the agent, returned once; the old key stops working at once. Of concurrent
   * rotations one wins, the others get 409 `CONFLICT` and change nothing, so every key
   * returned is one that works. A revoked agent gets no new key (409).
   */
  async rotate(id: string): Promise<AdminChange<AgentWithKey>> {
    const agent = await this.store.getAgent(id);
    if (agent === undefined) throw notFound('Agent');
    const revoked = () => new GatewayError({ code: 'CONFLICT', message: 'A revoked agent cannot get a new key' });
    if (agent.status === 'revoked') throw revoked();
    const apiKey = newAgentKey(id);
    // Compare-and-set on the key read, and the store refuses a new key for a revoked agent,
    // atomically: read again only to say why it refused.
    const updated = await this.store.updateAgent(
      id,
      { keyHash: hashAgentKey(apiKey), updatedAt: new Date(this.now()).toISOString() },
      { keyHash: agent.keyHash },
    );
    if (updated !== undefined) {
      return {
        value: { agent: toAgentView(updated), apiKey },
        // The key read comes back, unless another rotation (or a revocation) came since.
        undo: async () => {
          await this.store.updateAgent(id, { keyHash: agent.keyHash, updatedAt: agent.updatedAt }, { keyHash: updated.keyHash });
        },
      };
    }
    const current = await this.store.getAgent(id);
    if (current === undefined) throw notFound('Agent');
    if (current.status === 'revoked') throw revoked();
    throw new GatewayError({
      code: 'CONFLICT',
      message: "The agent's key was rotated by another request meanwhile; rotate again for a key of your own",
    });
  }
}

/** The fields of an object schema that may be left out: those a PATCH may remove with `null`. */
export function optionalFields(schema: z.ZodObject): ReadonlySet<string> {
  return new Set(
    Object.entries(schema.shape).flatMap(([name, field]) => ((field as z.ZodType).safeParse(undefined).success ? [name] : [])),
  );
}

/**
 * A PATCH body as a JSON merge patch (RFC 7396) takes it at its top level: a member set to
 * `null` removes that field, when it is one of `removable`. Answers the body without those
 * members, and their names; a `null` for any other field is left for the schema to refuse.
 */
export function patchRemovals(body: unknown, removable: ReadonlySet<string>): { patch: unknown; removed: string[] } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { patch: body, removed: [] };
  const members = body as Record<string, unknown>;
  const removed = Object.keys(members).filter((name) => members[name] === null && removable.has(name));
  if (removed.length === 0) return { patch: body, removed };
  const patch = { ...members };
  for (const name of removed) delete patch[name];
  return { patch, removed };
}

/**
 * A PATCH body without the fields that management responses show but the gateway sets
 * (`source`, `version`, `readOnly`, a rule's times), as `shown` holds them now: sent back
 * unchanged, as in an edited copy of what GET answered, they are left out; changed, they are
 * a 400 naming them.
 */
export function withoutShownFields(body: unknown, shown: Record<string, unknown>): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  const members = body as Record<string, unknown>;
  const sent = Object.keys(shown).filter((name) => Object.hasOwn(members, name));
  if (sent.length === 0) return body;
  const changed = sent.filter((name) => JSON.stringify(members[name]) !== JSON.stringify(shown[name]));
  if (changed.length > 0) {
    throw new GatewayError({
      code: 'BAD_REQUEST',
      message: `Invalid body: ${changed.join(', ')} ${changed.length === 1 ? 'is' : 'are'} set by the gateway and cannot be changed: leave ${changed.length === 1 ? 'it' : 'them'} out, or send what GET answers now`,
    });
  }
  const patch = { ...members };
  for (const name of sent) delete patch[name];
  return patch;
}

/** Parses a management body with zod; a mismatch is a 400 naming the field. */
export function parseBody<Schema extends z.ZodType>(schema: Schema, body: unknown): z.infer<Schema> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  throw new GatewayError({
    code: 'BAD_REQUEST',
    message: `Invalid body: ${where}${issue?.message ?? 'invalid'}`,
    details: result.error.issues.slice(0, 20).map((entry) => ({ path: entry.path.join('.'), message: entry.message })),
  });
}
