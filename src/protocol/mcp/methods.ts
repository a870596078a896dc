/**
 * The MCP methods this endpoint serves: `initialize` and `ping` (legacy era),
 * `server/discover` (modern era), `tools/list` and `tools/call` (both), and the task
 * methods (2025-11-25 and the 2026-07-28 tasks extension, see task-methods.ts). Each
 * returns a {@link Reply}; in-band JSON-RPC errors travel with HTTP 200.
 */
import type { AgentPrincipal, CallOutcome } from '../../pipeline/types.js';
import { toGatewayError } from '../../errors.js';
import { answerCall, type CalledTool, callResultJson, type StructuredContentSupport } from './call-result.js';
import { serverInfoMetaKey } from './era-routing.js';
import { isJsonObject, type JsonObject, JsonRpcErrorCode, type JsonRpcId } from './json-rpc.js';
import { checkParamHeaders } from './param-headers.js';
import { errorReply, type Reply, resultReply } from './replies.js';
import { createTaskMethods, declaresTasksExtension, type TaskMethods, taskParamsProblem } from './task-methods.js';
import { tasksExtensionId } from './task-state.js';
import type { IndexedTool, ListingIndex, ListingIndexer, ToolShape } from './tool-listing.js';
import type { McpBackend, McpOptions } from './types.js';
import { type LegacyProtocolVersion, legacyFeatures, negotiateLegacyVersion, supportedProtocolVersions } from './versions.js';
import type { CallAbort } from '../../util/call-abort.js';

/** Freshness hint on `tools/list` pages (ms): listings follow policy changes, so keep it short. */
export const toolsListTtlMs = 60_000;
/** Freshness hint on `server/discover` (ms): versions and capabilities change only on deploys. */
export const discoverTtlMs = 300_000;

/** How one request is served: the legacy revision it uses, or the modern era. */
export type Era = { kind: 'legacy'; version: LegacyProtocolVersion } | { kind: 'modern' };

/** The context of one method call. */
export interface MethodCall {
  id: JsonRpcId;
  params: JsonObject | undefined;
  agent: AgentPrincipal;
  era: Era;
  headers: Headers;
  /** Aborts the call when the client goes away. */
  abort: CallAbort;
}

/** The method implementations, bound to one backend and one set of options. */
export interface Methods {
  /** The legacy handshake; it runs outside any era (it is what picks one). */
  initialize(id: JsonRpcId, params: JsonObject | undefined): Reply;
  ping(call: MethodCall): Reply;
  discover(call: MethodCall): Reply;
  listTools(call: MethodCall): Promise<Reply>;
  callTool(call: MethodCall): Promise<Reply>;
  /** `tasks/get`, `tasks/result`, `tasks/list`, `tasks/cancel`, `tasks/update`; the dispatcher decides which era may call which. */
  tasks: Omit<TaskMethods, 'createLegacyTask' | 'createModernTask'>;
}

const toolsCapability = { listChanged: false };
/** 2025-11-25: every sub-capability of tasks that is implemented, and no other. */
const legacyTasksCapability = { list: {}, cancel: {}, requests: { tools: { call: {} } } };

/** What `initialize` advertises for one legacy revision. */
function legacyCapabilities(version: LegacyProtocolVersion): Record<string, unknown> {
  return legacyFeatures(version).tasks ? { tools: toolsCapability, tasks: legacyTasksCapability } : { tools: toolsCapability };
}

/** What `server/discover` advertises: the tasks extension rather than a core `tasks` capability. */
const modernCapabilities = { tools: toolsCapability, extensions: { [tasksExtensionId]: {} } };

function inBandError(id: JsonRpcId, code: number, message: string): Reply {
  return errorReply(200, id, code, message);
}

/** Creates the methods. */
export function createMethods(backend: McpBackend, options: McpOptions, indexListing: ListingIndexer): Methods {
  const { name, version, title, websiteUrl, description, icons } = options.serverInfo;
  // Every 2026-era result names the server: the identity, without the description and icons
  // (which may be data: URIs), so that they do not ride on every answer.
  const identity = { name, version, ...(title === undefined ? {} : { title }), ...(websiteUrl === undefined ? {} : { websiteUrl }) };
  const serverInfo = {
    ...identity,
    ...(description === undefined ? {} : { description }),
    ...(icons === undefined ? {} : { icons: icons.map(({ src, mimeType, sizes, theme }) => ({ src, mimeType, sizes, theme })) }),
  };
  const serverInfoMeta = { [serverInfoMetaKey]: identity };
  const modernMetaJson = JSON.stringify(serverInfoMeta);
  const instructions = options.instructions;

  const initializeResults = new Map<string, string>();
  const discoverResultJson = JSON.stringify({
    resultType: 'complete',
    supportedVersions: supportedProtocolVersions,
    capabilities: modernCapabilities,
    ...(instructions === undefined ? {} : { instructions }),
    ttlMs: discoverTtlMs,
    cacheScope: 'public',
    _meta: { [serverInfoMetaKey]: serverInfo },
  });

  function initializeResultJson(version: LegacyProtocolVersion): string {
    let json = initializeResults.get(version);
    if (json === undefined) {
      json = JSON.stringify({
        protocolVersion: version,
        capabilities: legacyCapabilities(version),
        serverInfo,
        ...(instructions === undefined ? {} : { instructions }),
      });
      initializeResults.set(version, json);
    }
    return json;
  }

  async function listingIndex(agent: AgentPrincipal): Promise<ListingIndex | undefined> {
    try {
      return indexListing(await backend.listTools(agent));
    } catch {
      return undefined;
    }
  }

  const taskMethods = createTaskMethods({
    backend,
    serverInfoMeta,
    async describeTool(agent, name): Promise<CalledTool> {
      const index = await listingIndex(agent);
      if (index === undefined) throw new Error('the tool listing is unavailable');
      return calledToolOf(name, index.tool(name));
    },
  });

  return {
    initialize(id, params) {
      const problem = initializeParamsProblem(params);
      if (problem !== undefined) return inBandError(id, JsonRpcErrorCode.invalidParams, `Invalid params: ${problem}`);
      return resultReply(id, initializeResultJson(negotiateLegacyVersion(params?.protocolVersion as string)));
    },

    ping({ id }) {
      return resultReply(id, '{}');
    },

    discover({ id }) {
      return resultReply(id, discoverResultJson);
    },

    async listTools({ id, params, agent, era }) {
      const cursor = params?.cursor;
      if (cursor !== undefined && typeof cursor !== 'string') {
        return inBandError(id, JsonRpcErrorCode.invalidParams, 'Invalid params: cursor must be a string');
      }
      const index = await listingIndex(agent);
      if (index === undefined) return inBandError(id, JsonRpcErrorCode.internalError, 'Internal error');
      let offset = 0;
      if (cursor !== undefined) {
        const decoded = index.offsetOf(cursor);
        if (decoded === undefined) {
          return inBandError(id, JsonRpcErrorCode.invalidParams, 'Invalid params: invalid or expired cursor');
        }
        offset = decoded;
      }
      const features = era.kind === 'legacy' ? legacyFeatures(era.version) : undefined;
      const shape: ToolShape = features === undefined ? 'full' : !features.structuredOutput ? 'basic' : features.tasks ? 'tasks' : 'full';
      const page = index.page(shape, offset);
      const next = page.nextCursor === undefined ? '' : `,"nextCursor":${JSON.stringify(page.nextCursor)}`;
      if (era.kind === 'legacy') return resultReply(id, `{"tools":${page.toolsJson}${next}}`);
      return resultReply(
        id,
        `{"resultType":"complete","tools":${page.toolsJson}${next},"ttlMs":${toolsListTtlMs},"cacheScope":"private","_meta":${modernMetaJson}}`,
      );
    },

    async callTool(call) {
      const { id, params, agent, era, headers, abort } = call;
      const name = params?.name;
      if (typeof name !== 'string' || name.length === 0) {
        return inBandError(id, JsonRpcErrorCode.invalidParams, 'Invalid params: name must be a non-empty string');
      }
      const args = params?.arguments === undefined ? {} : params.arguments;
      if (!isJsonObject(args)) {
        return inBandError(id, JsonRpcErrorCode.invalidParams, 'Invalid params: arguments must be an object');
      }
      // A task is asked for with params.task only where tasks are core (2025-11-25); the
      // 2026-07-28 extension is server-directed and older revisions ignore the field.
      const taskRequested = era.kind === 'legacy' && legacyFeatures(era.version).tasks && params?.task !== undefined;
      if (taskRequested) {
        const problem = taskParamsProblem(params?.task);
        if (problem !== undefined) return inBandError(id, JsonRpcErrorCode.invalidParams, `Invalid params: ${problem}`);
      }
      const index = await listingIndex(agent);
      if (index === undefined) return inBandError(id, JsonRpcErrorCode.internalError, 'Internal error');
      const tool = index.tool(name);
      if (era.kind === 'modern' && tool !== undefined && tool.paramHeaders.length > 0) {
        const mismatch = checkParamHeaders(tool.paramHeaders, args, headers);
        if (mismatch !== undefined) return errorReply(400, id, JsonRpcErrorCode.headerMismatch, `Header mismatch: ${mismatch}`);
      }

      let outcome: CallOutcome;
      try {
        outcome = await backend.callTool(agent, { name, arguments: args, abort });
      } catch (error) {
        outcome = { status: 'error', error: toGatewayError(error) };
      }
      const structured: StructuredContentSupport =
        era.kind === 'modern' ? 'any' : legacyFeatures(era.version).structuredOutput ? 'object' : 'none';
      const calledTool = calledToolOf(name, tool);
      const render = (result: CallOutcome): Reply => {
        const answer = answerCall(result, calledTool, structured);
        if (answer.kind === 'protocol-error') return inBandError(id, answer.code, answer.message);
        if (era.kind === 'legacy') return resultReply(id, callResultJson(answer, answer.result._meta));
        const meta = { ...serverInfoMeta, ...(answer.result._meta as Record<string, unknown> | undefined) };
        return resultReply(id, callResultJson(answer, meta, 'complete'));
      };
      try {
        if (taskRequested) return await taskMethods.createLegacyTask(call, outcome, calledTool);
        if (
          era.kind === 'modern' &&
          (outcome.status === 'pending_approval' || outcome.status === 'running') &&
          declaresTasksExtension(params)
        ) {
          const task = await taskMethods.createModernTask(call, outcome, calledTool);
          if (task !== undefined) return task;
        }
      } catch {
        return inBandError(id, JsonRpcErrorCode.internalError, 'Internal error');
      }
      try {
        return render(outcome);
      } catch (error) {
        // An output that cannot be serialised must still end as a tool error, never a 500.
        return render({ status: 'error', invocationId: outcome.invocationId, error: toGatewayError(error) });
      }
    },

    tasks: {
      get: taskMethods.get,
      result: taskMethods.result,
      list: taskMethods.list,
      cancel: taskMethods.cancel,
      update: taskMethods.update,
    },
  };
}

function initializeParamsProblem(params: JsonObject | undefined): string | undefined {
  if (params === undefined) return 'params are required';
  if (typeof params.protocolVersion !== 'string') return 'protocolVersion must be a string';
  if (!isJsonObject(params.capabilities)) return 'capabilities must be an object';
  const info = params.clientInfo;
  if (!isJsonObject(info) || typeof info.name !== 'string' || typeof info.version !== 'string') {
    return 'clientInfo must have a string name and version';
  }
  return undefined;
}

/** What the answer to a call of `name` needs to know of the tool the listing holds under it (none: unknown). */
function calledToolOf(name: string, tool: IndexedTool | undefined): CalledTool {
  return {
    name,
    hasOutputSchema: tool?.hasOutputSchema ?? false,
    mcpContent: tool?.view.outputFormat === 'mcp-content',
    validateOutput: tool?.validateOutput,
  };
}
