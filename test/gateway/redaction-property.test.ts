import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, createGateway, generateEncryptionKey, httpTool, secret } from '../../src/index.js';
import { jsonRequest, listen } from '../helpers.js';

/** What the upstream answers next: set by each property run. */
let nextBody = '{}';
let gateway: Gateway;
let apiKey: string;
let closeUpstream: () => Promise<void>;
const logLines: string[] = [];
const CANARY = 'Cn4ry-7f3e91b2c5d8a4e6-secret';

const encodings = (value: string) => [
  value,
  Buffer.from(value).toString('base64'),
  Buffer.from(value).toString('base64url'),
  Buffer.from(value).toString('hex'),
  encodeURIComponent(value),
];

beforeAll(async () => {
  const upstream = await listen((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(nextBody);
  });
  closeUpstream = upstream.close;
  gateway = createGateway({
    encryptionKey: generateEncryptionKey(),
    tools: [
      httpTool({
        name: 'crm.record',
        description: 'Returns whatever the CRM returns',
        method: 'GET',
        url: `${upstream.url}/record`,
        inputSchema: { type: 'object', properties: {} },
        secretHeaders: { 'x-api-key': secret(CANARY) },
        allowPrivateNetwork: true,
      }),
    ],
    policy: [{ id: 'all', effect: 'allow' }],
    onError: (error) => logLines.push(String(error)),
  });
  apiKey = (await gateway.admin.createAgent({ name: 'agent' })).apiKey;
});

afterAll(async () => {
  await gateway.close();
  await closeUpstream();
});

/** Random JSON with the canary, in one of its encodings, planted somewhere (value or key). */
const plantedJson = fc
  .tuple(fc.jsonValue({ maxDepth: 4 }), fc.constantFrom(...encodings(CANARY)), fc.nat(), fc.boolean(), fc.string({ maxLength: 8 }))
  .map(([value, encoded, seed, asKey, filler]) => {
    const text = `${filler}${encoded}${filler}`;
    const plant = (node: unknown, depth: number): unknown => {
      if (depth > 3 || node === null || typeof node !== 'object') return asKey ? { [text]: node } : text;
      if (Array.isArray(node)) {
        const copy = [...node];
        copy.splice(seed % (copy.length + 1), 0, plant(copy[seed % Math.max(copy.length, 1)], depth + 1));
        return copy;
      }
      const keys = Object.keys(node);
      const key = keys[seed % Math.max(keys.length, 1)];
      return key === undefined
        ? { [asKey ? text : 'planted']: text }
        : { ...node, [key]: plant((node as Record<string, unknown>)[key], depth + 1) };
    };
    return plant(value, 0);
  });

describe('a secret the gateway holds never leaves it', () => {
  it('whatever the upstream echoes, in any encoding, anywhere in the JSON', async () => {
    await fc.assert(
      fc.asyncProperty(plantedJson, async (body) => {
        nextBody = JSON.stringify(body);
        const response = await gateway.fetch(jsonRequest('/tools/crm.record/invoke', { key: apiKey, body: { input: {} } }));
        const answer = await response.text();
        for (const form of encodings(CANARY)) expect(answer).not.toContain(form);
      }),
      { numRuns: 60 },
    );
    const everything = JSON.stringify([
      await gateway.admin.listInvocations({ limit: 1000 }),
      await gateway.admin.listAudit({ limit: 1000 }),
      await gateway.admin.listTools(),
      logLines,
    ]);
    for (const form of encodings(CANARY)) expect(everything).not.toContain(form);
  });
});
