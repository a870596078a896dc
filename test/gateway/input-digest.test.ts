import { createHash, createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, memoryStore } from '../../src/index.js';
import { canonicalJson } from '../../src/util/canonical-json.js';
import { testGateway } from '../fixtures.js';
import { jsonRequest } from '../helpers.js';

const key = 'input-digest-key-0123456789abcdef-0123';
const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));
});

function open(options: Parameters<typeof testGateway>[0] = {}) {
  const gateway = testGateway(options);
  gateways.push(gateway);
  return gateway;
}

const hmac = (input: unknown) => createHmac('sha256', key).update(canonicalJson(input)).digest('hex');
const sha256 = (input: unknown) => createHash('sha256').update(canonicalJson(input)).digest('hex');

describe('inputDigestKey', () => {
  it('keys the digest in records and audit events, so a short redacted value cannot be guessed back', async () => {
    const gateway = open({ inputDigestKey: key });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const input = { text: 'hi', password: '1234' };
    const outcome = await gateway.invoke({ agentKey: apiKey, tool: 'echo', input });
    expect(outcome.status).toBe('succeeded');
    const record = await gateway.admin.getInvocation(outcome.invocationId as string);
    expect(record.input).toEqual({ text: 'hi', password: '***' });
    expect(record.inputDigest).toBe(hmac(input));
    expect(record.inputDigest).not.toBe(sha256(input));
    // Trying every four-digit PIN against the digest finds nothing without the key.
    const guessed = Array.from({ length: 10_000 }, (_, pin) => String(pin).padStart(4, '0')).find(
      (pin) => sha256({ text: 'hi', password: pin }) === record.inputDigest,
    );
    expect(guessed).toBeUndefined();
    const events = (await gateway.admin.listAudit({ type: 'invocation.started' })).items;
    expect(JSON.stringify(events)).toContain(hmac(input));
    expect(JSON.stringify(events)).not.toContain(sha256(input));
  });

  it('still binds repeats and idempotency keys to the input, across instances that share the key', async () => {
    const store = memoryStore();
    const first = open({ store, inputDigestKey: key });
    const second = open({ store, inputDigestKey: key });
    const { apiKey } = await first.admin.createAgent({ name: 'bot' });
    const big = { orderId: 'O-1', amount: 500 };
    const held = await first.invoke({ agentKey: apiKey, tool: 'refunds.create', input: big });
    expect(held.status).toBe('pending_approval');
    const repeated = await second.invoke({ agentKey: apiKey, tool: 'refunds.create', input: big });
    expect(repeated).toMatchObject({ status: 'pending_approval', invocationId: held.invocationId });

    const call = async (gateway: Gateway, input: unknown) => {
      const response = await gateway.fetch(jsonRequest('/tools/echo/invoke', { key: apiKey, body: { input, idempotencyKey: 'once' } }));
      return { status: response.status, body: (await response.json()) as { invocationId: string } };
    };
    const once = await call(first, { text: 'a' });
    expect(once.status).toBe(200);
    expect((await call(second, { text: 'a' })).body.invocationId).toBe(once.body.invocationId);
    expect((await call(second, { text: 'b' })).status).toBe(409);
  });

  it('is SHA-256 of the canonical input without a key, and refuses a short key', async () => {
    const gateway = open();
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const outcome = await gateway.invoke({ agentKey: apiKey, tool: 'echo', input: { text: 'hi' } });
    expect((await gateway.admin.getInvocation(outcome.invocationId as string)).inputDigest).toBe(sha256({ text: 'hi' }));
    expect(() => testGateway({ inputDigestKey: 'short' })).toThrow(/inputDigestKey: must be at least 32 characters/);
  });
});
