/**
 * What counts as a correct answer in each scenario. A response that is not 2xx is an error;
 * so is one whose body is not the expected success: for MCP a JSON-RPC error or an
 * `isError` result, and for the governed doors any personal data left in clear.
 *
 * Two levels: `quickCheck` runs on every response of a timed run (string tests only, so the
 * load generator stays cheap and equally cheap for every scenario), `strictCheck` parses
 * the sample responses taken before and after the run.
 */
import { customerCard, customerEmail, customerId, customerPhone } from './fixtures.js';

/** The kinds of answer a scenario expects. */
export type ResponseKind = 'record' | 'rest-governed' | 'mcp-governed' | 'mcp-plain';

const clearPersonalData = [customerEmail, customerPhone, customerCard];

function hasClearPersonalData(body: string): boolean {
  return clearPersonalData.some((value) => body.includes(value));
}

/** The cheap test applied to every response body of a timed run. */
export function quickCheck(kind: ResponseKind, body: string): boolean {
  if (!body.includes(customerId)) return false;
  switch (kind) {
    case 'record':
      return body.includes(customerEmail);
    case 'rest-governed':
      return body.includes('"status":"succeeded"') && !hasClearPersonalData(body);
    case 'mcp-governed':
      return body.includes('"result"') && !body.includes('"isError":true') && !body.includes('"error"') && !hasClearPersonalData(body);
    case 'mcp-plain':
      return body.includes('"result"') && !body.includes('"isError":true') && !body.includes('"error"');
  }
}

/** The JSON-RPC message of an MCP answer: a JSON body, or the first `data:` line of an SSE stream. */
function mcpMessage(body: string): Record<string, unknown> {
  const trimmed = body.trimStart();
  if (trimmed.startsWith('{')) return JSON.parse(trimmed) as Record<string, unknown>;
  const data = trimmed.split('\n').find((line) => line.startsWith('data:'));
  if (data === undefined) throw new Error('neither JSON nor an SSE data line');
  return JSON.parse(data.slice('data:'.length)) as Record<string, unknown>;
}

function checkRecord(record: unknown, governed: boolean): string | undefined {
  if (typeof record !== 'object' || record === null) return 'the record is not an object';
  const fields = record as Record<string, unknown>;
  if (fields.id !== customerId) return `the record's id is ${JSON.stringify(fields.id)}`;
  if (!governed) return fields.email === customerEmail ? undefined : 'the record lost its e-mail';
  if (hasClearPersonalData(JSON.stringify(record))) return 'personal data left in clear';
  return undefined;
}

/** The full test of a sample response: a reason when it is wrong, undefined when right. */
export function strictCheck(kind: ResponseKind, status: number, body: string): string | undefined {
  if (status < 200 || status > 299) return `HTTP ${status}: ${body.slice(0, 200)}`;
  try {
    switch (kind) {
      case 'record':
        return checkRecord(JSON.parse(body), false);
      case 'rest-governed': {
        const answer = JSON.parse(body) as { status?: unknown; invocationId?: unknown; output?: unknown };
        if (answer.status !== 'succeeded') return `status ${JSON.stringify(answer.status)}`;
        if (typeof answer.invocationId !== 'string') return 'no invocationId';
        return checkRecord(answer.output, true);
      }
      case 'mcp-governed':
      case 'mcp-plain': {
        const message = mcpMessage(body);
        if (message.error !== undefined) return `JSON-RPC error ${JSON.stringify(message.error).slice(0, 200)}`;
        const result = message.result as { isError?: unknown; content?: Array<{ type?: unknown; text?: unknown }> } | undefined;
        if (result === undefined) return 'no result';
        if (result.isError === true) return `isError result: ${JSON.stringify(result.content).slice(0, 200)}`;
        const text = result.content?.[0]?.text;
        if (typeof text !== 'string') return 'no text content';
        return checkRecord(JSON.parse(text), kind === 'mcp-governed');
      }
    }
  } catch (error) {
    return `unreadable answer (${(error as Error).message}): ${body.slice(0, 120)}`;
  }
}
