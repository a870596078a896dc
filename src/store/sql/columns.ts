import type {
  AgentRecord,
  ApprovalRecord,
  AuditCheckpoint,
  AuditEntry,
  AuditEvent,
  IdempotencyRecord,
  InvocationRecord,
  StoredPolicyRecord,
  StoredToolRecord,
} from '../types.js';

/*
 * Records ⇄ rows. Text columns cannot hold U+0000, and an unpaired surrogate would be
 * replaced on the way to UTF-8; agents can send both (a tool name, a reason). Such a string,
 * and any string that starts with a double quote, is stored as its JSON encoding, which
 * starts with a double quote; every other string is stored as is. The mapping is one-to-one,
 * so equality filters and unique keys stay exact, and it reads back losslessly.
 */
const NEEDS_ENCODING = /^"|\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A string as stored in a text column. */
export function encodeText(value: string): string {
  return NEEDS_ENCODING.test(value) ? JSON.stringify(value) : value;
}

/** True when {@link encodeText} stores this string unchanged (prefix ranges work on it). */
export function storedAsIs(value: string): boolean {
  return !NEEDS_ENCODING.test(value);
}

/** A nullable string as stored in a text column. */
export function encodeNullableText(value: string | null | undefined): string | null {
  return value === null || value === undefined ? null : encodeText(value);
}

/** A text column back to the string it holds. */
export function decodeText(stored: string): string {
  return stored.startsWith('"') ? (JSON.parse(stored) as string) : stored;
}

function decodeNullableText(stored: string | null): string | null {
  return stored === null ? null : decodeText(stored);
}

/** A document for a `json` column; `undefined` becomes SQL NULL. */
export function encodeJson(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/** A `json` column, selected as text (`column::text`), back to a fresh value. */
function decodeJson(stored: string | null): unknown {
  return stored === null ? undefined : (JSON.parse(stored) as unknown);
}

/** `bigint` columns arrive as strings (pg) or numbers (PGlite); sequence numbers fit a double. */
export function toNumber(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

// Agents

export const AGENT_COLUMNS = 'seq, id, name, tags::text AS tags, status, key_hash, created_at, updated_at, expires_at';

export interface AgentRow {
  seq: string | number;
  id: string;
  name: string;
  tags: string;
  status: string;
  key_hash: string;
  created_at: string;
  updated_at: string;
  expires_at: string | null;
}

export function agentParams(agent: AgentRecord): unknown[] {
  return [
    encodeText(agent.id),
    encodeText(agent.name),
    encodeJson(agent.tags),
    encodeText(agent.status),
    encodeText(agent.keyHash),
    encodeText(agent.createdAt),
    encodeText(agent.updatedAt),
    encodeNullableText(agent.expiresAt),
  ];
}

export function agentFromRow(row: AgentRow): AgentRecord {
  return {
    id: decodeText(row.id),
    name: decodeText(row.name),
    tags: decodeJson(row.tags) as string[],
    status: decodeText(row.status) as AgentRecord['status'],
    keyHash: decodeText(row.key_hash),
    createdAt: decodeText(row.created_at),
    updatedAt: decodeText(row.updated_at),
    expiresAt: decodeNullableText(row.expires_at),
  };
}

/** Agent fields a patch may change, and their columns. */
export const AGENT_PATCH_COLUMNS = {
  name: { column: 'name', encode: (value: unknown) => encodeText(value as string) },
  tags: { column: 'tags', cast: '::json', encode: encodeJson },
  status: { column: 'status', encode: (value: unknown) => encodeText(value as string) },
  keyHash: { column: 'key_hash', encode: (value: unknown) => encodeText(value as string) },
  updatedAt: { column: 'updated_at', encode: (value: unknown) => encodeText(value as string) },
  expiresAt: { column: 'expires_at', encode: (value: unknown) => encodeNullableText(value as string | null) },
} as const satisfies Record<string, PatchColumn>;

/** How one patchable field is written. */
export interface PatchColumn {
  column: string;
  cast?: string;
  encode(value: unknown): unknown;
}

// Tools and policies

export const TOOL_COLUMNS = 'name, definition::text AS definition, version, created_at, updated_at';

export interface ToolRow {
  name: string;
  definition: string;
  version: string;
  created_at: string;
  updated_at: string;
}

export function toolParams(tool: StoredToolRecord): unknown[] {
  return [
    encodeText(tool.name),
    encodeJson(tool.definition),
    encodeText(tool.version),
    encodeText(tool.createdAt),
    encodeText(tool.updatedAt),
  ];
}

export function toolFromRow(row: ToolRow): StoredToolRecord {
  return {
    name: decodeText(row.name),
    definition: decodeJson(row.definition) as Record<string, unknown>,
    version: decodeText(row.version),
    createdAt: decodeText(row.created_at),
    updatedAt: decodeText(row.updated_at),
  };
}

export const POLICY_COLUMNS = 'id, rule::text AS rule, created_at, updated_at';

export interface PolicyRow {
  id: string;
  rule: string;
  created_at: string;
  updated_at: string;
}

export function policyParams(policy: StoredPolicyRecord): unknown[] {
  return [encodeText(policy.id), encodeJson(policy.rule), encodeText(policy.createdAt), encodeText(policy.updatedAt)];
}

export function policyFromRow(row: PolicyRow): StoredPolicyRecord {
  return {
    id: decodeText(row.id),
    rule: decodeJson(row.rule) as Record<string, unknown>,
    createdAt: decodeText(row.created_at),
    updatedAt: decodeText(row.updated_at),
  };
}

// Invocations

/** Column order of inserts; `invocationParams` follows it. */
export const INVOCATION_INSERT_COLUMNS = [
  'id',
  'agent_id',
  'tool',
  'tool_version',
  'input_digest',
  'input',
  'decision',
  'rule_ids',
  'approval_id',
  'status',
  'door',
  'upstream_status',
  'latency_ms',
  'output',
  'error',
  'idempotency_key',
  'created_at',
  'updated_at',
] as const;

const INVOCATION_JSON_COLUMNS = new Set(['input', 'rule_ids', 'output', 'error']);

/** The cast after each placeholder of {@link INVOCATION_INSERT_COLUMNS} (documents are `json`). */
export const INVOCATION_CASTS: readonly string[] = INVOCATION_INSERT_COLUMNS.map((column) =>
  INVOCATION_JSON_COLUMNS.has(column) ? '::json' : '',
);

export const INVOCATION_COLUMNS =
  'seq, id, agent_id, tool, tool_version, input_digest, input::text AS input, decision, rule_ids::text AS rule_ids, approval_id, ' +
  'status, door, upstream_status, latency_ms, output::text AS output, error::text AS error, idempotency_key, created_at, updated_at';

export interface InvocationRow {
  seq: string | number;
  id: string;
  agent_id: string;
  tool: string;
  tool_version: string | null;
  input_digest: string | null;
  input: string | null;
  decision: string | null;
  rule_ids: string;
  approval_id: string | null;
  status: string;
  door: string;
  upstream_status: number | null;
  latency_ms: number | null;
  output: string | null;
  error: string | null;
  idempotency_key: string | null;
  created_at: string;
  updated_at: string;
}

export function invocationParams(record: InvocationRecord): unknown[] {
  return [
    encodeText(record.id),
    encodeText(record.agentId),
    encodeText(record.tool),
    encodeNullableText(record.toolVersion),
    encodeNullableText(record.inputDigest),
    encodeJson(record.input),
    encodeNullableText(record.decision),
    encodeJson(record.ruleIds),
    encodeNullableText(record.approvalId),
    encodeText(record.status),
    encodeText(record.door),
    record.upstreamStatus,
    record.latencyMs,
    encodeJson(record.output),
    encodeJson(record.error),
    encodeNullableText(record.idempotencyKey),
    encodeText(record.createdAt),
    encodeText(record.updatedAt),
  ];
}

export function invocationFromRow(row: InvocationRow): InvocationRecord {
  return {
    id: decodeText(row.id),
    agentId: decodeText(row.agent_id),
    tool: decodeText(row.tool),
    toolVersion: decodeNullableText(row.tool_version),
    inputDigest: decodeNullableText(row.input_digest),
    input: decodeJson(row.input),
    decision: decodeNullableText(row.decision) as InvocationRecord['decision'],
    ruleIds: decodeJson(row.rule_ids) as string[],
    approvalId: decodeNullableText(row.approval_id),
    status: decodeText(row.status) as InvocationRecord['status'],
    door: decodeText(row.door) as InvocationRecord['door'],
    upstreamStatus: row.upstream_status,
    latencyMs: row.latency_ms,
    output: decodeJson(row.output),
    error: (decodeJson(row.error) ?? null) as InvocationRecord['error'],
    idempotencyKey: decodeNullableText(row.idempotency_key),
    createdAt: decodeText(row.created_at),
    updatedAt: decodeText(row.updated_at),
  };
}

// Approvals

export const APPROVAL_INSERT_COLUMNS = [
  'id',
  'invocation_id',
  'agent_id',
  'tool',
  'tool_version',
  'input_digest',
  'held_input',
  'input',
  'rule_ids',
  'status',
  'requested_at',
  'expires_at',
  'decided_at',
  'decided_by',
  'reason',
] as const;

const APPROVAL_JSON_COLUMNS = new Set(['held_input', 'input', 'rule_ids']);

export const APPROVAL_PLACEHOLDERS = APPROVAL_INSERT_COLUMNS.map(
  (column, index) => `$${index + 1}${APPROVAL_JSON_COLUMNS.has(column) ? '::json' : ''}`,
).join(', ');

export const APPROVAL_COLUMNS =
  'seq, id, invocation_id, agent_id, tool, tool_version, input_digest, held_input::text AS held_input, input::text AS input, ' +
  'rule_ids::text AS rule_ids, status, requested_at, expires_at, decided_at, decided_by, reason';

export interface ApprovalRow {
  seq: string | number;
  id: string;
  invocation_id: string;
  agent_id: string;
  tool: string;
  tool_version: string;
  input_digest: string;
  held_input: string | null;
  input: string | null;
  rule_ids: string;
  status: string;
  requested_at: string;
  expires_at: string;
  decided_at: string | null;
  decided_by: string | null;
  reason: string | null;
}

export function approvalParams(record: ApprovalRecord): unknown[] {
  return [
    encodeText(record.id),
    encodeText(record.invocationId),
    encodeText(record.agentId),
    encodeText(record.tool),
    encodeText(record.toolVersion),
    encodeText(record.inputDigest),
    encodeJson(record.heldInput),
    encodeJson(record.input),
    encodeJson(record.ruleIds),
    encodeText(record.status),
    encodeText(record.requestedAt),
    encodeText(record.expiresAt),
    encodeNullableText(record.decidedAt),
    encodeNullableText(record.decidedBy),
    encodeNullableText(record.reason),
  ];
}

export function approvalFromRow(row: ApprovalRow): ApprovalRecord {
  return {
    id: decodeText(row.id),
    invocationId: decodeText(row.invocation_id),
    agentId: decodeText(row.agent_id),
    tool: decodeText(row.tool),
    toolVersion: decodeText(row.tool_version),
    inputDigest: decodeText(row.input_digest),
    heldInput: decodeJson(row.held_input),
    input: decodeJson(row.input),
    ruleIds: decodeJson(row.rule_ids) as string[],
    status: decodeText(row.status) as ApprovalRecord['status'],
    requestedAt: decodeText(row.requested_at),
    expiresAt: decodeText(row.expires_at),
    decidedAt: decodeNullableText(row.decided_at),
    decidedBy: decodeNullableText(row.decided_by),
    reason: decodeNullableText(row.reason),
  };
}

/** Approval fields `transitionApproval` may change, and their columns. */
export const APPROVAL_PATCH_COLUMNS = {
  status: { column: 'status', encode: (value: unknown) => encodeText(value as string) },
  decidedAt: { column: 'decided_at', encode: (value: unknown) => encodeNullableText(value as string | null) },
  decidedBy: { column: 'decided_by', encode: (value: unknown) => encodeNullableText(value as string | null) },
  reason: { column: 'reason', encode: (value: unknown) => encodeNullableText(value as string | null) },
  heldInput: { column: 'held_input', cast: '::json', encode: encodeJson },
} as const satisfies Record<string, PatchColumn>;

// Idempotency keys

export const IDEMPOTENCY_COLUMNS = 'agent_id, key, invocation_id, fingerprint, created_at';

export interface IdempotencyRow {
  agent_id: string;
  key: string;
  invocation_id: string;
  fingerprint: string;
  created_at: string;
}

export function idempotencyParams(record: IdempotencyRecord): unknown[] {
  return [
    encodeText(record.agentId),
    encodeText(record.key),
    encodeText(record.invocationId),
    encodeText(record.fingerprint),
    encodeText(record.createdAt),
  ];
}

export function idempotencyFromRow(row: IdempotencyRow): IdempotencyRecord {
  return {
    agentId: decodeText(row.agent_id),
    key: decodeText(row.key),
    invocationId: decodeText(row.invocation_id),
    fingerprint: decodeText(row.fingerprint),
    createdAt: decodeText(row.created_at),
  };
}

// Audit

export const AUDIT_COLUMNS = 'seq, prev_hash, hash, event::text AS event';

export interface AuditRow {
  seq: string | number;
  prev_hash: string;
  hash: string;
  event: string;
}

export function auditEntryFromRow(row: AuditRow): AuditEntry {
  return {
    seq: toNumber(row.seq),
    prevHash: decodeText(row.prev_hash),
    hash: decodeText(row.hash),
    event: JSON.parse(row.event) as AuditEvent,
  };
}

/**
 * The columns an audit row keeps beside its event for filtered listings, each derived from
 * the event as stored: the append writes these values, and `listAudit` checks every row it
 * reads against them. The chain's hashes cover the event, not these copies.
 */
export const AUDIT_INDEX_COLUMNS = {
  type: (event: AuditEvent): string => encodeText(String(event.type)),
  agent_id: (event: AuditEvent): string | null => (typeof event.agentId === 'string' ? encodeText(event.agentId) : null),
  tool: (event: AuditEvent): string | null => (typeof event.tool === 'string' ? encodeText(event.tool) : null),
  at: (event: AuditEvent): string => encodeText(String(event.at)),
} as const;

type AuditIndexColumn = keyof typeof AUDIT_INDEX_COLUMNS;

const AUDIT_INDEX_COLUMN_NAMES = Object.keys(AUDIT_INDEX_COLUMNS) as AuditIndexColumn[];

/** {@link AUDIT_COLUMNS} and the index columns, as `listAudit` reads them. */
export const AUDIT_LISTED_COLUMNS = `${AUDIT_COLUMNS}, ${AUDIT_INDEX_COLUMN_NAMES.join(', ')}`;

export interface AuditListedRow extends AuditRow {
  type: string;
  agent_id: string | null;
  tool: string | null;
  at: string;
}

/**
 * The index columns of an audit row that hold something else than its event gives (compared
 * as stored, encoding included), or undefined when they all agree.
 */
export function auditIndexMismatch(row: AuditListedRow, event: AuditEvent): string[] | undefined {
  // A damaged row whose event is no object gives no column (verification reports it edited).
  if (typeof event !== 'object' || event === null) return [...AUDIT_INDEX_COLUMN_NAMES];
  let columns: string[] | undefined;
  for (const column of AUDIT_INDEX_COLUMN_NAMES) {
    if (row[column] !== AUDIT_INDEX_COLUMNS[column](event)) (columns ??= []).push(column);
  }
  return columns;
}

/**
 * The entries of one append as column arrays for `unnest`, and their events as one JSON array
 * text for `json_array_elements` (one statement whatever the batch size). The events go as one
 * document rather than a `json[]`: pg writes an array parameter as an array literal and
 * escapes every element, a regex pass over each event's JSON.
 */
export function auditColumnArrays(entries: readonly AuditEntry[]): unknown[] {
  const seqs: number[] = [];
  const prevHashes: string[] = [];
  const hashes: string[] = [];
  const types: string[] = [];
  const agentIds: Array<string | null> = [];
  const tools: Array<string | null> = [];
  const times: string[] = [];
  const events: string[] = [];
  for (const { seq, prevHash, hash, event } of entries) {
    seqs.push(seq);
    prevHashes.push(encodeText(prevHash));
    hashes.push(encodeText(hash));
    types.push(AUDIT_INDEX_COLUMNS.type(event));
    agentIds.push(AUDIT_INDEX_COLUMNS.agent_id(event));
    tools.push(AUDIT_INDEX_COLUMNS.tool(event));
    times.push(AUDIT_INDEX_COLUMNS.at(event));
    events.push(JSON.stringify(event));
  }
  return [seqs, prevHashes, hashes, types, agentIds, tools, times, `[${events.join(',')}]`];
}

export const CHECKPOINT_COLUMNS = 'seq, hash, at, signature, key_id';

export interface CheckpointRow {
  seq: string | number;
  hash: string;
  at: string;
  signature: string;
  key_id: string;
}

export function checkpointParams(checkpoint: AuditCheckpoint): unknown[] {
  return [
    checkpoint.seq,
    encodeText(checkpoint.hash),
    encodeText(checkpoint.at),
    encodeText(checkpoint.signature),
    encodeText(checkpoint.keyId),
  ];
}

export function checkpointFromRow(row: CheckpointRow): AuditCheckpoint {
  return {
    seq: toNumber(row.seq),
    hash: decodeText(row.hash),
    at: decodeText(row.at),
    signature: decodeText(row.signature),
    keyId: decodeText(row.key_id),
  };
}
