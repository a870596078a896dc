/**
 * 2026-07-28 `Mcp-Param-*` headers against the real gateway on loopback: a value no header
 * can carry (an integer beyond 2^53 - 1, which JSON parsing rounds; an object) is a header
 * mismatch, whatever header comes with it, and so is a header without a body value. Raw
 * JSON-RPC over fetch, since the bodies must hold numbers JavaScript cannot write.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineTool } from '../../src/index.js';
import { mcp2026Headers, servedGateway } from '../helpers.js';

const ranFor: unknown[] = [];
const shard = defineTool({
  name: 'x.shard',
  description: 'Runs on the tenant the header names',
  inputSchema: {
    type: 'object',
    properties: {
      tenant: { type: 'integer', 'x-mcp-header': 'Tenant' },
      region: { type: 'string', 'x-mcp-header': 'Region' },
    },
  },
  handler: (input: { tenant?: unknown }) => {
    ranFor.push(input.tenant);
    return { ranFor: input.tenant };
  },
});

/** A tool whose header argument is named like a member every object inherits. */
const label = defineTool({
  name: 'x.label',
  description: 'Labels a record',
  inputSchema: { type: 'object', properties: { valueOf: { type: 'string', 'x-mcp-header': 'Label' } } },
  handler: (input: { valueOf?: unknown }) => ({ label: Object.hasOwn(input, 'valueOf') ? input.valueOf : null }),
});

let url: string;
let apiKey: string;
let close: () => Promise<void>;

beforeAll(async () => {
  ({
    mcpUrl: url,
    apiKey,
    close,
  } = await servedGateway({ tools: [shard, label], policy: [{ id: 'x', effect: 'allow', tools: ['x.*'] }] }, 'param-header-agent'));
});

afterAll(async () => {
  await close();
});

const meta = '{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}';

/** A 2026-07-28 tools/call of x.shard whose arguments are the raw JSON `args`. */
async function call(args: string, params: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...mcp2026Headers(apiKey, 'tools/call', 'x.shard'), ...params },
    body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x.shard","arguments":${args},"_meta":${meta}}}`,
  });
  return { status: response.status, body: await response.json() };
}

describe('Mcp-Param headers through the gateway (2026-07-28)', () => {
  it('takes an argument named like an inherited member (valueOf) as absent when the call leaves it out', async () => {
    const callLabel = async (args: string, params: Record<string, string>) => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { ...mcp2026Headers(apiKey, 'tools/call', 'x.label'), ...params },
        body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x.label","arguments":${args},"_meta":${meta}}}`,
      });
      return { status: response.status, body: (await response.json()) as any };
    };
    const without = await callLabel('{}', {});
    expect(without.status).toBe(200);
    expect(JSON.parse(without.body.result.content[0].text)).toEqual({ label: null });
    expect((await callLabel('{}', { 'mcp-param-label': 'urgent' })).status).toBe(400);
    const labelled = await callLabel('{"valueOf":"urgent"}', { 'mcp-param-label': 'urgent' });
    expect(JSON.parse(labelled.body.result.content[0].text)).toEqual({ label: 'urgent' });
    expect((await callLabel('{"valueOf":"urgent"}', {})).status).toBe(400);
  });

  it('refuses an integer beyond 2^53 - 1 with any header, or none: the header cannot carry it', async () => {
    const before = ranFor.length;
    const headerSets: Array<Record<string, string>> = [{ 'mcp-param-tenant': '7' }, { 'mcp-param-tenant': '9007199254740993' }, {}];
    for (const params of headerSets) {
      const { status, body } = await call('{"tenant":9007199254740993}', params);
      expect(status).toBe(400);
      expect(body.error.code).toBe(-32020);
      expect(body.error.message).toContain('cannot be carried in the Mcp-Param-Tenant header');
    }
    expect(ranFor.length).toBe(before);
  });

  it('refuses a header whose argument is absent, null or not a header value', async () => {
    const before = ranFor.length;
    for (const args of ['{}', '{"tenant":null}', '{"tenant":{"id":7}}', '{"tenant":7.5}']) {
      const { status, body } = await call(args, { 'mcp-param-tenant': '7' });
      expect(status).toBe(400);
      expect(body.error.code).toBe(-32020);
    }
    expect((await call('{"region":["eu"]}', {})).status).toBe(400);
    expect(ranFor.length).toBe(before);
  });

  it('compares integers exactly, not after rounding', async () => {
    const before = ranFor.length;
    expect((await call('{"tenant":7}', { 'mcp-param-tenant': '7.0000000000000001' })).status).toBe(400);
    expect((await call('{"tenant":9007199254740991}', { 'mcp-param-tenant': '9007199254740990.9999999' })).status).toBe(400);
    expect(ranFor.length).toBe(before);
  });

  it('runs a call whose headers match, for integers up to 2^53 - 1', async () => {
    const before = ranFor.length;
    for (const [args, tenant] of [
      ['{"tenant":7}', '7'],
      ['{"tenant":7}', '07.00'],
      ['{"tenant":-7}', '-7'],
      ['{"tenant":9007199254740991}', '9007199254740991'],
      ['{"tenant":-9007199254740991}', '=?base64?LTkwMDcxOTkyNTQ3NDA5OTE=?='],
    ] as const) {
      const { status, body } = await call(args, { 'mcp-param-tenant': tenant });
      expect(status).toBe(200);
      expect(body.result.isError).toBeFalsy();
    }
    expect((await call('{}', {})).status).toBe(200);
    expect(ranFor.slice(before)).toEqual([7, 7, -7, 9007199254740991, -9007199254740991, undefined]);
  });
});
