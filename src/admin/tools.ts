import { z } from 'zod';
import { GatewayError } from '../errors.js';
import { assertJsonNumbers, assertSafeInput } from '../pipeline/input-guard.js';
import { redactionProfileSchema } from '../policy/rules.js';
import {
  type ResealedDefinition,
  keepMaskedSecrets,
  maskSecrets,
  openSecretHeaders,
  resealSecretHeaders,
  sealSecretHeaders,
} from '../secrets/tool-secrets.js';
import { MASKED_SECRET, type SecretValue, isSecretValue } from '../secrets/secret-value.js';
import { type Vault, isSecretUnavailable } from '../secrets/vault.js';
import type { Store, StoredToolRecord } from '../store/types.js';
import { type HttpToolDefinition, type HttpToolOptions, httpTool } from '../tools/http-tool.js';
import type { ResolvedTool } from '../tools/registry.js';
import { type AdminChange, notFound, optionalFields, parseBody, patchRemovals, withoutShownFields } from './agents.js';
import { type StoredTable, restoreDeleted, restoreRecord } from './undo.js';

const inputField = z.object({ from: z.string().min(1).max(200) }).strict();
/** A `secret(...)` value, as `gateway.admin.createTool(httpTool({ … }))` passes them (JSON has none). */
const secretValue = z.custom<SecretValue>((value) => isSecretValue(value));
const jsonSchemaObject = z.record(z.string(), z.unknown());

/** The JSON body of an HTTP tool, as `POST /admin/tools` takes it. Unknown fields are refused. */
export const httpToolBodySchema = z
  .object({
    kind: z.literal('http').optional(),
    name: z.string().min(1).max(128),
    title: z.string().max(200).optional(),
    description: z.string().max(10_000),
    method: z.string().min(1).max(10),
    url: z.string().min(1).max(2000),
    inputSchema: jsonSchemaObject,
    outputSchema: jsonSchemaObject.optional(),
    annotations: z
      .object({
        title: z.string().optional(),
        readOnlyHint: z.boolean().optional(),
        destructiveHint: z.boolean().optional(),
        idempotentHint: z.boolean().optional(),
        openWorldHint: z.boolean().optional(),
      })
      .strict()
      .optional(),
    risk: z.enum(['low', 'medium', 'high', 'critical']).optional(),
    query: z.array(z.string()).max(200).optional(),
    body: z
      .union([z.array(z.string()).max(200), inputField], {
        error: 'must be a list of input field names (at most 200) or { from: "<input field>" }',
      })
      .optional(),
    headers: z
      .record(
        z.string(),
        z.union([z.string().max(8192), inputField, secretValue], {
          error: 'must be a string (at most 8,192 characters) or { from: "<input field>" }',
        }),
      )
      .optional(),
    secretHeaders: z
      .record(
        z.string(),
        z.union([z.string().max(8192), secretValue, z.object({ sealed: z.string() }).strict()], {
          error: 'must be a string (at most 8,192 characters)',
        }),
      )
      .optional(),
    timeoutMs: z.number().int().positive().optional(),
    connectTimeoutMs: z.number().int().positive().optional(),
    firstByteTimeoutMs: z.number().int().positive().optional(),
    maxResponseBytes: z.number().int().positive().optional(),
    allowPrivateNetwork: z
      .union([z.boolean(), z.array(z.string()).max(100)], { error: 'must be a boolean or a list of CIDR ranges (at most 100)' })
      .optional(),
    followRedirects: z.enum(['none', 'same-origin']).optional(),
    responseHeaders: z.array(z.string()).max(100).optional(),
    redact: redactionProfileSchema.optional(),
  })
  .strict();

/** What a PATCH may remove with `null`. */
const REMOVABLE_TOOL_FIELDS = optionalFields(httpToolBodySchema);

/** A tool as management responses show it: secrets are `***`, handlers are not shown. */
export type ToolAdminView = Record<string, unknown> & { name: string; kind: 'local' | 'http'; source: 'code' | 'store'; version: string };

export function toolAdminView(tool: ResolvedTool): ToolAdminView {
  const definition = tool.definition;
  let view: Record<string, unknown>;
  if (definition.kind === 'http') {
    view = JSON.parse(JSON.stringify(maskSecrets(definition as HttpToolDefinition)));
  } else {
    const { handler: _handler, ...rest } = definition;
    view = JSON.parse(JSON.stringify(rest));
  }
  return { ...view, name: tool.name, kind: tool.kind, source: tool.source, version: tool.version, readOnly: tool.source === 'code' };
}

function badDefinition(error: unknown): never {
  if (error instanceof TypeError) throw new GatewayError({ code: 'BAD_REQUEST', message: error.message });
  if (isSecretUnavailable(error)) {
    throw new GatewayError({ code: 'BAD_REQUEST', message: error.message });
  }
  throw error;
}

/** What the tool administration needs from the gateway. */
export interface ToolAdministrationHost {
  store: Store;
  vault: Vault;
  now(): number;
  /** Builds the runnable form (compiles schemas); throws a TypeError for a bad definition. */
  resolve(definition: HttpToolDefinition): ResolvedTool;
  isCodeTool(name: string): boolean;
  get(name: string): ResolvedTool | undefined;
  /** Reloads store-held tools into the registry. */
  reload(): Promise<void>;
}

/** HTTP tools held in the store: create, update, delete, with secrets sealed at rest. */
export class ToolAdministration {
  constructor(private readonly host: ToolAdministrationHost) {}

  /**
   * The stored definition as a sealed, JSON-ready HTTP tool; throws 400 for anything wrong
   * with it, a stored sealed value it keeps that no longer opens for this tool and header
   * included (it would otherwise fail every call, and key rotation).
   */
  private prepare(options: HttpToolOptions): HttpToolDefinition {
    try {
      const sealed = sealSecretHeaders(httpTool(options), this.host.vault);
      openSecretHeaders(sealed, this.host.vault);
      this.host.resolve(sealed);
      return sealed;
    } catch (error) {
      badDefinition(error);
    }
  }

  async create(body: unknown): Promise<AdminChange<ToolAdminView>> {
    assertSafeInput(body, 64);
    assertJsonNumbers(body);
    const options = parseBody(httpToolBodySchema, body) as unknown as HttpToolOptions;
    refuseSealedValues(options.secretHeaders);
    if (this.host.isCodeTool(options.name) || (await this.host.store.getTool(options.name)) !== undefined) {
      throw new GatewayError({ code: 'CONFLICT', message: `A tool named "${options.name}" exists` });
    }
    const definition = this.prepare(options);
    const written = await this.put(definition, undefined);
    return { value: this.view(options.name), undo: () => this.restore(undefined, written) };
  }

  async update(name: string, patch: unknown): Promise<AdminChange<ToolAdminView>> {
    assertSafeInput(patch, 64);
    assertJsonNumbers(patch);
    if (this.host.isCodeTool(name)) throw readOnly(name);
    const stored = await this.host.store.getTool(name);
    if (stored === undefined) throw notFound('Tool');
    const shown = withoutShownFields(patch, { source: 'store', version: stored.version, readOnly: false });
    const { patch: members, removed } = patchRemovals(shown, REMOVABLE_TOOL_FIELDS);
    const partial = parseBody(httpToolBodySchema.partial(), members);
    refuseSealedValues(partial.secretHeaders);
    if (partial.name !== undefined && partial.name !== name) {
      throw new GatewayError({ code: 'BAD_REQUEST', message: 'A tool cannot be renamed; create a new one' });
    }
    // As stored, not httpTool() of it: only its URL and sealed secrets are read here, and a tool
    // stored by an earlier version that this one refuses must be fixable by this very update.
    const current = stored.definition as unknown as HttpToolDefinition;
    const updated: Record<string, unknown> = {
      ...(stored.definition as unknown as HttpToolOptions),
      ...(partial as Partial<HttpToolOptions>),
    };
    for (const field of removed) delete updated[field];
    // Secret headers removed with null keep none of the stored ones.
    const patchedSecrets = removed.includes('secretHeaders') ? {} : (partial as Partial<HttpToolOptions>).secretHeaders;
    refuseSecretsFollowingToAnotherOrigin(current, updated.url, patchedSecrets);
    const merged = keepMaskedSecrets(updated, current);
    const definition = this.prepare(merged as unknown as HttpToolOptions);
    const written = await this.put(definition, stored);
    return { value: this.view(name), undo: () => this.restore(stored, written) };
  }

  async remove(name: string): Promise<AdminChange<undefined>> {
    if (this.host.isCodeTool(name)) throw readOnly(name);
    // Deleted as it was read, so that an undo puts back what was deleted: a tool changed
    // meanwhile (on another instance) is read again.
    for (let attempt = 0; attempt < 5; attempt++) {
      const stored = await this.host.store.getTool(name);
      if (stored === undefined) throw notFound('Tool');
      if (!(await this.host.store.deleteTool(name, stored))) continue;
      await this.host.reload();
      return { value: undefined, undo: () => restoreDeleted(this.table(), stored, () => this.host.reload()) };
    }
    throw new GatewayError({ code: 'CONFLICT', message: `Tool "${name}" kept changing while it was deleted; read it again and retry` });
  }

  /** Puts `previous` (none: no tool) back in place of `written`, unless another change came since. */
  private restore(previous: StoredToolRecord | undefined, written: StoredToolRecord): Promise<void> {
    return restoreRecord(this.table(), previous, written, () => this.host.reload());
  }

  private table(): StoredTable<StoredToolRecord> {
    const store = this.host.store;
    return {
      get: (name) => store.getTool(name),
      replace: (record, expected) => store.replaceTool(record, expected),
      remove: (record) => store.deleteTool(record.name, record),
      key: (record) => record.name,
      body: (record) => record.definition,
    };
  }

  /**
   * Re-seals every stored secret under the vault's active key. A tool whose secrets no key
   * in the keyring opens is named in `unreadable` and left as it is; the others go on.
   */
  async reseal(): Promise<{ tools: number; resealed: number; unchanged: number; unreadable: string[] }> {
    let resealed = 0;
    let unchanged = 0;
    const unreadable: string[] = [];
    const stored = await this.host.store.listTools();
    for (const listed of stored) {
      // A tool updated meanwhile is read again: its new secrets are resealed, never reverted.
      let record: StoredToolRecord | undefined = listed;
      for (let attempt = 0; record !== undefined; attempt++) {
        const definition = record.definition as StoredToolRecord['definition'] & { name: string };
        let result: ResealedDefinition<typeof definition>;
        try {
          // The stored form itself, not httpTool() of it: a definition stored by an earlier
          // version that this one refuses must not stop the rotation of every tool after it.
          result = resealSecretHeaders(definition, this.host.vault, typeof definition.name === 'string' ? definition.name : record.name);
        } catch (error) {
          if (!isSecretUnavailable(error)) throw error;
          unreadable.push(record.name);
          break;
        }
        const resealedRecord = { ...record, definition: toJson(result.definition), updatedAt: new Date(this.host.now()).toISOString() };
        if (result.changed === 0 || (await this.host.store.replaceTool(resealedRecord, record))) {
          resealed += result.changed;
          unchanged += result.unchanged;
          break;
        }
        if (attempt === 4) {
          throw new GatewayError({ code: 'CONFLICT', message: `Tool "${record.name}" kept changing during the rotation; run it again` });
        }
        record = await this.host.store.getTool(record.name);
      }
    }
    await this.host.reload();
    return { tools: stored.length, resealed, unchanged, unreadable };
  }

  /** Stores `definition`; an update replaces `previous` only if nobody changed it since it was read. Answers the record written. */
  private async put(definition: HttpToolDefinition, previous: StoredToolRecord | undefined): Promise<StoredToolRecord> {
    const at = new Date(this.host.now()).toISOString();
    const resolved = this.host.resolve(definition);
    const record: StoredToolRecord = {
      name: definition.name,
      definition: toJson(definition),
      version: resolved.version,
      createdAt: previous?.createdAt ?? at,
      updatedAt: at,
    };
    if (!(await this.host.store.replaceTool(record, previous ?? null))) {
      throw new GatewayError({
        code: 'CONFLICT',
        message:
          previous === undefined
            ? `A tool named "${definition.name}" exists`
            : `Tool "${definition.name}" changed while this update was made; read it again and retry`,
      });
    }
    await this.host.reload();
    return record;
  }

  private view(name: string): ToolAdminView {
    const tool = this.host.get(name);
    if (tool === undefined) throw notFound('Tool');
    return toolAdminView(tool);
  }
}

function toJson(definition: object): Record<string, unknown> {
  return JSON.parse(JSON.stringify(definition)) as Record<string, unknown>;
}

/** The origin of a tool URL (template), or undefined when it has none. */
function originOf(url: unknown): string | undefined {
  try {
    return new URL(String(url)).origin;
  } catch {
    return undefined;
  }
}

/**
 * Sealed values are made here, never taken: one read from the store (or a backup) and sent back
 * would carry a stored credential to a tool, or an origin, it was not given for. A change keeps
 * a stored secret with `***`.
 */
function refuseSealedValues(secretHeaders: unknown): void {
  if (typeof secretHeaders !== 'object' || secretHeaders === null) return;
  for (const [name, value] of Object.entries(secretHeaders)) {
    if (typeof value !== 'object' || value === null || isSecretValue(value)) continue;
    throw new GatewayError({
      code: 'BAD_REQUEST',
      message: `secretHeaders.${name}: send the secret's value (it is sealed here), or "***" on a change to keep the stored one; sealed values are not taken`,
    });
  }
}

/**
 * A stored credential never follows a tool to another origin: an update that moves the URL
 * elsewhere must send the values of the secret headers it keeps, not `***` or nothing.
 */
function refuseSecretsFollowingToAnotherOrigin(
  current: HttpToolDefinition,
  url: unknown,
  patchedSecretHeaders: HttpToolOptions['secretHeaders'],
): void {
  const storedNames = Object.keys(current.secretHeaders ?? {});
  if (storedNames.length === 0 || originOf(url) === originOf(current.url)) return;
  // Without secretHeaders in the patch, every stored one would be kept.
  const kept =
    patchedSecretHeaders === undefined
      ? storedNames
      : Object.entries(patchedSecretHeaders)
          .filter(([, value]) => value === MASKED_SECRET)
          .map(([name]) => name);
  if (kept.length === 0) return;
  throw new GatewayError({
    code: 'BAD_REQUEST',
    message: `The tool's URL moves to another origin: send the values of its secret headers (${kept.join(', ')}) again; a stored credential never follows a tool to another origin`,
  });
}

function readOnly(name: string): GatewayError {
  return new GatewayError({ code: 'CONFLICT', message: `Tool "${name}" is defined in code and cannot be changed here` });
}
