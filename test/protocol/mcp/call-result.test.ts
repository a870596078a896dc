import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import type { CallOutcome } from '../../../src/pipeline/types.js';
import { type CalledTool, type StructuredContentSupport, answerCall, callResultJson } from '../../../src/protocol/mcp/call-result.js';

const outputs: unknown[] = [
  { id: 'c-1', email: 'ada@example.com', orders: [{ total: 12.5, placedAt: '2026-01-02T03:04:05Z' }], note: null },
  JSON.parse('{"__proto__":{"x":1},"quote":"\\"","unicode":"żółć 🚀","control":"\\u0000\\n"}'),
  [1, 'two', [3], { four: 4 }],
  'plain text',
  42,
  0,
  false,
  null,
  undefined,
  {},
  [],
  { at: new Date(Date.UTC(2026, 0, 2)), skipped: undefined, fn: () => 1 },
  { content: [{ type: 'text', text: 'own blocks' }], structuredContent: { a: 1 } },
  { content: 'not blocks' },
];

/** An output check that every value fails, as a redacted output can. */
const failsSchema = () => [{ path: '/pin', message: 'must be integer' }];

const tools: CalledTool[] = [
  { name: 'plain', hasOutputSchema: false },
  { name: 'typed', hasOutputSchema: true },
  { name: 'typed-withheld', hasOutputSchema: true, validateOutput: failsSchema },
  { name: 'blocks', hasOutputSchema: true, mcpContent: true },
  { name: 'blocks-withheld', hasOutputSchema: true, mcpContent: true, validateOutput: failsSchema },
  { name: 'blocks-untyped', hasOutputSchema: false, mcpContent: true },
];

const supports: StructuredContentSupport[] = ['none', 'object', 'any'];

const outcomes: CallOutcome[] = [
  ...outputs.map((output): CallOutcome => ({ status: 'succeeded', invocationId: 'inv_1', output })),
  { status: 'pending_approval', invocationId: 'inv_2', approval: { id: 'apr_1', expiresAt: '2026-01-02T03:04:05.000Z' } },
  { status: 'error', invocationId: 'inv_3', error: new GatewayError({ code: 'POLICY_DENIED', message: 'no', details: { rule: ['r1'] } }) },
];

describe('callResultJson', () => {
  it('writes exactly what serialising the whole result would, for every outcome, tool kind and revision', () => {
    let checked = 0;
    let reused = 0;
    for (const outcome of outcomes) {
      for (const tool of tools) {
        for (const structured of supports) {
          const answer = answerCall(outcome, tool, structured);
          if (answer.kind !== 'result') continue;
          if (answer.structuredJson !== undefined) reused++;
          const meta = { 'io.modelcontextprotocol/serverInfo': { name: 'g' }, ...(answer.result._meta as object) };
          expect(callResultJson(answer, meta, 'complete')).toBe(JSON.stringify({ resultType: 'complete', ...answer.result, _meta: meta }));
          expect(callResultJson(answer, answer.result._meta)).toBe(JSON.stringify(answer.result));
          checked++;
        }
      }
    }
    expect(checked).toBe(outcomes.length * tools.length * supports.length);
    // The shortcut is taken for every structured, non-string, serialisable output of a typed tool.
    expect(reused).toBeGreaterThan(10);
  });

  it("reuses the text block's JSON as structuredContent instead of serialising the output twice", () => {
    let serialised = 0;
    const output = {
      toJSON() {
        serialised++;
        return { ok: true };
      },
    };
    const answer = answerCall({ status: 'succeeded', invocationId: 'inv_1', output }, tools[1] as CalledTool, 'any');
    expect(answer.kind === 'result' && answer.structuredJson).toBe('{"ok":true}');
    const json = callResultJson(answer as Extract<typeof answer, { kind: 'result' }>, {}, 'complete');
    expect(JSON.parse(json)).toEqual({
      resultType: 'complete',
      content: [{ type: 'text', text: '{"ok":true}' }],
      structuredContent: { ok: true },
      _meta: {},
    });
    expect(serialised).toBe(1);
  });
});

describe('answerCall and the output check', () => {
  const succeeded: CallOutcome = { status: 'succeeded', invocationId: 'inv_1', output: { name: 'ada', pin: '***' } };

  it('runs the check only when structuredContent would be sent', () => {
    const seen: unknown[] = [];
    const validateOutput = (value: unknown) => {
      seen.push(value);
      return undefined;
    };
    answerCall(succeeded, { name: 'plain', hasOutputSchema: false, validateOutput }, 'any');
    answerCall(succeeded, { name: 'typed', hasOutputSchema: true, validateOutput }, 'none');
    answerCall({ ...succeeded, output: 'text' }, { name: 'typed', hasOutputSchema: true, validateOutput }, 'object');
    expect(seen).toEqual([]);
    const answer = answerCall(succeeded, { name: 'typed', hasOutputSchema: true, validateOutput }, 'object');
    expect(seen).toEqual([{ name: 'ada', pin: '***' }]);
    expect(answer.kind === 'result' && answer.result.structuredContent).toEqual({ name: 'ada', pin: '***' });
  });

  it('withholds structured content the check refuses, saying the call succeeded', () => {
    const answer = answerCall(succeeded, { name: 'x.account', hasOutputSchema: true, validateOutput: failsSchema }, 'any');
    expect(answer).toEqual({
      kind: 'result',
      result: {
        content: [
          { type: 'text', text: expect.stringMatching(/^The call to "x\.account" succeeded and ran once; .*\(\/pin\)/) },
          { type: 'text', text: '{"name":"ada","pin":"***"}' },
        ],
        isError: true,
        _meta: {
          'io.agent-tool-gateway/invocationId': 'inv_1',
          'io.agent-tool-gateway/structuredContentWithheld': { reason: 'redaction', paths: ['/pin'] },
        },
      },
    });
  });
});
