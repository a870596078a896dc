/**
 * The tamper-evident audit trail: a SHA-256 hash chain of events in the store, group-committed
 * appends, signed checkpoints, sinks, verification and evidence export.
 */
export { GENESIS_HASH, computeEntryHash } from './hash.js';
export {
  type AuditSigningKey,
  type AuditVerificationKey,
  type GeneratedAuditSigningKey,
  generateAuditSigningKey,
  getAuditPublicJwk,
} from './keys.js';
export {
  type AuditCheckpointOptions,
  type AuditEventInput,
  type AuditLog,
  type AuditLogOptions,
  type AuditSinkDrop,
  type AuditSinkDropReason,
  createAuditLog,
} from './log.js';
export type { AuditBreakReason, AuditSink, AuditVerification } from './types.js';
export {
  type VerifyAuditChainOptions,
  type VerifyAuditEntriesOptions,
  verifyAuditChain,
  verifyAuditEntries,
} from './verify.js';
export { type JsonlFileSinkOptions, jsonlFileSink } from './jsonl-file-sink.js';
export {
  type WebhookDropReason,
  type WebhookSinkOptions,
  auditWebhookType,
  verifyAuditWebhook,
  webhookSink,
} from './webhook-sink.js';
export {
  type AuditExportManifest,
  type AuditExportVerification,
  type ExportAuditOptions,
  type VerifyAuditExportOptions,
  auditExportFormat,
  exportAudit,
  verifyAuditExport,
} from './export.js';
