/**
 * The MCP door of the gateway: a JSON-RPC Streamable HTTP endpoint for both protocol eras.
 * See docs/mcp.md for what it implements.
 */
export { approvalMetaKey, errorMetaKey, invocationMetaKey, structuredContentWithheldMetaKey } from './call-result.js';
export { createMcpHandler, maxBatchLength } from './handler.js';
export { discoverTtlMs, toolsListTtlMs } from './methods.js';
export { taskPollIntervalMs, taskResultMaxWaitMs, tasksExtensionId } from './task-state.js';
export type { McpBackend, McpHandler, McpOptions, McpToolView } from './types.js';
export {
  latestLegacyProtocolVersion,
  legacyProtocolVersions,
  modernProtocolVersions,
  supportedProtocolVersions,
} from './versions.js';
