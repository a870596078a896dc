/**
 * agent-tool-gateway: an embeddable governance layer between AI agents and the tools they
 * call. Every call, whatever door it comes through (MCP, REST, `invoke()`), takes the same
 * path: authenticate → resolve tool → validate input → policy → approval? → execute →
 * redact → record.
 *
 * @packageDocumentation
 */
export { createGateway } from './gateway.js';
export type { Gateway, GatewayAdmin, GatewayOptions, InvokeArguments } from './gateway.js';
export type { McpIcon, McpServerInfo } from './protocol/mcp/types.js';
export type { ApprovalDecisionResult, ApprovalView } from './approval/coordinator.js';
export { callbackApprover, verifyApprovalWebhook, webhookApprover, approvalWebhookType } from './approval/approvers.js';
export type { Approver, ApprovalNotice, WebhookApproverOptions } from './approval/approvers.js';
export { httpTool, isHttpToolDefinition } from './tools/http-tool.js';
export type { HttpMethod, HttpToolDefinition, HttpToolOptions, InputField, RedirectMode, SecretHeaderValue } from './tools/http-tool.js';
export { secret, isSecretValue, generateEncryptionKey, createVault, KEY_GENERATION_COMMAND, MASKED_SECRET } from './secrets/index.js';
export type { Keyring, SecretValue, SealedSecret, Vault, VaultOptions } from './secrets/index.js';
export type { PrivateNetworkAllowance } from './upstream/network-policy.js';
export { createHttpExecutor, createUpstreamClient } from './upstream/index.js';
export type {
  HttpCallContext,
  HttpExecution,
  HttpExecutor,
  HttpExecutorOptions,
  HttpResponseOutput,
  UpstreamClient,
  UpstreamClientOptions,
  UpstreamRoute,
} from './upstream/index.js';
export { createRedactor, redact, redactText, mergeProfiles, detectorNames, defaultKeyNames } from './redaction/index.js';
export type {
  CompiledRedaction,
  DetectorName,
  RedactionMode,
  RedactionProfile,
  RedactorConfig,
  Redactor,
} from './redaction/index.js';
export {
  createAuditLog,
  computeEntryHash,
  GENESIS_HASH,
  exportAudit,
  generateAuditSigningKey,
  getAuditPublicJwk,
  jsonlFileSink,
  verifyAuditChain,
  verifyAuditEntries,
  verifyAuditExport,
  verifyAuditWebhook,
  webhookSink,
} from './audit/index.js';
export type {
  AuditCheckpointOptions,
  AuditExportManifest,
  AuditLog,
  AuditSink,
  AuditSinkDrop,
  AuditSinkDropReason,
  AuditVerification,
  AuditVerificationKey,
  AuditSigningKey,
  JsonlFileSinkOptions,
  WebhookSinkOptions,
} from './audit/index.js';
export { findIncompleteInvocations } from './audit/incomplete.js';
export type { IncompleteInvocation } from './audit/incomplete.js';
export type { PolicyAdminView } from './admin/policies.js';
export type { ToolAdminView } from './admin/tools.js';
export { defineTool } from './tools/define-tool.js';
export type { DefineToolOptions } from './tools/define-tool.js';
export type {
  JsonSchema,
  LocalToolDefinition,
  ToolAnnotations,
  ToolCallContext,
  ToolDefinitionBase,
  ToolRedaction,
  ToolRisk,
} from './tools/types.js';
export type { AnyToolDefinition, ToolView } from './tools/registry.js';
export { memoryStore } from './store/memory.js';
export type { MemoryStoreOptions } from './store/memory.js';
export type * from './store/types.js';
export { GatewayError, errorStatus, isGatewayError } from './errors.js';
export type { ErrorCode, GatewayErrorOptions, InputIssue } from './errors.js';
export { compilePolicy } from './policy/rules.js';
export type { CompiledPolicy, CompilePolicyOptions } from './policy/rules.js';
export type { ConditionOperator, PolicyCondition, PolicyEngine, PolicyRateLimit, PolicyRequest, PolicyRule } from './policy/types.js';
export { memoryRateLimiter } from './policy/rate-limit.js';
export type { MemoryRateLimiterOptions, RateLimitCharge, RateLimiter } from './policy/rate-limit.js';
export type { AgentPrincipal, CallOutcome, Door, PolicyDecision } from './pipeline/types.js';
export type { AdminAuthOption, AdminPrincipal, AdminRole, AdminTokenConfig } from './auth/admin-auth.js';
export type { JwtAlgorithm, JwtAuthOptions } from './auth/jwt.js';
export type { TokenIdentity } from './auth/token-identity.js';
export type { AgentView, AgentWithKey, CreateAgentInput } from './admin/agents.js';
