import { afterEach, describe, expect, it } from 'vitest';
import { type AuditEntry, type Gateway, type Store, createGateway, defineTool, memoryStore } from '../../src/index.js';
import { breakableStore } from '../helpers.js';

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

const transfer = defineTool({
  name: 'funds.transfer',
  description: 'moves money',
  inputSchema: { type: 'object', properties: { amount: { type: 'number' } }, required: ['amount'] } as const,
  handler: ({ amount }) => ({ transferred: amount }),
});

/** A memory store whose chain refuses batches holding an event of the given type, while `refusing` is set. */
function storeRefusing(type: string) {
  const inner = memoryStore();
  const state = { refusing: true };
  const store: Store = new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'appendAudit') {
        return async (entries: AuditEntry[]) => {
          if (state.refusing && entries.some((entry) => entry.event.type === type)) throw new Error('disk full');
          return target.appendAudit(entries);
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
  return { store, state };
}

/**
 * A call the process died in, between its start event and its outcome: its outcome event was
 * refused, and its record is set back to `running`. The chain takes events again after it.
 */
async function callLeftRunning(running: Gateway, store: Store, state: { refusing: boolean }): Promise<string> {
  const { agent } = await running.admin.createAgent({ name: 'payments' });
  const outcome = await running.invoke({ agentId: agent.id, tool: 'funds.transfer', input: { amount: 5 } });
  const invocationId = (outcome as { invocationId: string }).invocationId;
  const record = await store.getInvocation(invocationId);
  await store.putInvocation({ ...(record as NonNullable<typeof record>), status: 'running', output: null });
  state.refusing = false;
  return invocationId;
}

/** Runs `incompleteInvocations` on two gateways at once, and checks the call was listed and marked by one of them. */
async function expectMarkedOnce(one: Gateway, two: Gateway, invocationId: string): Promise<void> {
  const [first, second] = await Promise.all([
    one.admin.incompleteInvocations({ graceMs: 0 }),
    two.admin.incompleteInvocations({ graceMs: 0 }),
  ]);
  expect([...first, ...second]).toMatchObject([{ invocationId, status: 'outcome_unknown' }]);
  const marks = (await one.admin.listAudit({ limit: 100 })).items.filter(
    (entry) => entry.event.invocationId === invocationId && entry.event.type === 'invocation.outcome_unknown',
  );
  expect(marks).toHaveLength(1);
}

describe('incompleteInvocations', () => {
  it('keeps an outcome the record holds when only its audit event was lost, and gives the chain that event', async () => {
    const { store, state } = storeRefusing('invocation.completed');
    gateway = createGateway({ store, tools: [transfer], policy: [{ id: 'all', effect: 'allow' }], audit: { failMode: 'closed' } });
    const { agent } = await gateway.admin.createAgent({ name: 'payments' });
    const outcome = await gateway.invoke({ agentId: agent.id, tool: 'funds.transfer', input: { amount: 100 } });
    expect(outcome).toMatchObject({ status: 'succeeded', output: { transferred: 100 } });
    const invocationId = (outcome as { invocationId: string }).invocationId;
    state.refusing = false;

    const found = await gateway.admin.incompleteInvocations({ graceMs: 0 });
    expect(found).toMatchObject([{ invocationId, tool: 'funds.transfer', status: 'succeeded' }]);
    // The agent was told it succeeded, and so the record still says.
    expect(await gateway.admin.getInvocation(invocationId)).toMatchObject({
      status: 'succeeded',
      output: { transferred: 100 },
      error: null,
    });
    const events = (await gateway.admin.listAudit({ limit: 100 })).items.filter((entry) => entry.event.invocationId === invocationId);
    expect(events.map((entry) => [entry.event.type, entry.event.actor, entry.event.data?.recovered])).toEqual([
      ['invocation.started', `agent:${agent.id}`, undefined],
      ['invocation.completed', 'system', true],
    ]);
    expect(events[1]?.event.data).toMatchObject({ status: 'succeeded', door: 'invoke' });
    expect(await gateway.admin.incompleteInvocations({ graceMs: 0 })).toEqual([]);
    expect(await gateway.admin.verifyAudit()).toMatchObject({ ok: true });
  });

  it('marks a call whose record never got its outcome outcome_unknown', async () => {
    const { store, state } = storeRefusing('invocation.completed');
    gateway = createGateway({ store, tools: [transfer], policy: [{ id: 'all', effect: 'allow' }], audit: { failMode: 'open' } });
    const invocationId = await callLeftRunning(gateway, store, state);

    expect(await gateway.admin.incompleteInvocations({ graceMs: 0 })).toMatchObject([{ invocationId, status: 'outcome_unknown' }]);
    expect(await gateway.admin.getInvocation(invocationId)).toMatchObject({ status: 'outcome_unknown', error: { code: 'INTERNAL' } });
    expect(await gateway.admin.incompleteInvocations({ graceMs: 0 })).toEqual([]);
  });

  it('marks a call once when two runs (two instances, or the CLI beside one) look at the same time', async () => {
    const { store, state } = storeRefusing('invocation.completed');
    gateway = createGateway({ store, tools: [transfer], policy: [{ id: 'all', effect: 'allow' }], audit: { failMode: 'open' } });
    const other = createGateway({ store, refreshIntervalMs: 0 });
    const invocationId = await callLeftRunning(gateway, store, state);

    await expectMarkedOnce(gateway, other, invocationId);
    expect((await gateway.admin.verifyAudit()).ok).toBe(true);
  });

  it('lets the next run mark a call that a failed run had claimed, at once', async () => {
    const { store, state } = storeRefusing('invocation.completed');
    let failWrites = false;
    const failing: Store = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'putInvocation' && failWrites) return async () => Promise.reject(new Error('disk full'));
        return Reflect.get(target, property, receiver);
      },
    });
    gateway = createGateway({ store: failing, tools: [transfer], policy: [{ id: 'all', effect: 'allow' }], audit: { failMode: 'open' } });
    const invocationId = await callLeftRunning(gateway, store, state);

    failWrites = true;
    await expect(gateway.admin.incompleteInvocations({ graceMs: 0 })).rejects.toThrow('disk full');
    failWrites = false;
    expect(await gateway.admin.incompleteInvocations({ graceMs: 0 })).toMatchObject([{ invocationId, status: 'outcome_unknown' }]);
  });

  it('lets one of two runs take over a claim left by a run that stopped, not both', async () => {
    const { store, state } = storeRefusing('invocation.completed');
    // Both runs reach the stale claim before either releases it.
    let arrived = 0;
    let bothThere: () => void = () => undefined;
    const together = new Promise<void>((resolve) => {
      bothThere = resolve;
    });
    const racing: Store = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'releaseIdempotencyKey') {
          return async (reservation: Parameters<Store['releaseIdempotencyKey']>[0]) => {
            if (++arrived === 2) bothThere();
            await together;
            return target.releaseIdempotencyKey(reservation);
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
    let clock = Date.now();
    gateway = createGateway({
      store: racing,
      tools: [transfer],
      policy: [{ id: 'all', effect: 'allow' }],
      audit: { failMode: 'open' },
      now: () => clock,
    });
    const other = createGateway({ store: racing, refreshIntervalMs: 0, now: () => clock });
    const invocationId = await callLeftRunning(gateway, store, state);
    // A run that stopped after claiming the call.
    await store.reserveIdempotencyKey({
      agentId: 'atg:incomplete',
      key: invocationId,
      invocationId: 'a-run-that-stopped',
      fingerprint: 'incomplete',
      createdAt: new Date(clock).toISOString(),
    });
    clock += 120_000;

    await expectMarkedOnce(gateway, other, invocationId);
  });

  it('gives a repeat of a call marked outcome_unknown that answer, not an endless "retry later", and onError is not told again', async () => {
    const { store, state } = storeRefusing('invocation.completed');
    const errors: unknown[] = [];
    gateway = createGateway({
      store,
      tools: [transfer],
      policy: [{ id: 'all', effect: 'allow' }],
      audit: { failMode: 'open' },
      onError: (error) => errors.push(error),
    });
    const { agent } = await gateway.admin.createAgent({ name: 'payments' });
    const call = { agentId: agent.id, tool: 'funds.transfer', input: { amount: 7 }, idempotencyKey: 'transfer-7' };
    const outcome = await gateway.invoke(call);
    const invocationId = (outcome as { invocationId: string }).invocationId;
    const record = await store.getInvocation(invocationId);
    await store.putInvocation({ ...(record as NonNullable<typeof record>), status: 'running', output: null });
    state.refusing = false;
    expect(await gateway.admin.incompleteInvocations({ graceMs: 0 })).toMatchObject([{ invocationId, status: 'outcome_unknown' }]);

    errors.length = 0;
    const repeat = await gateway.invoke(call);
    expect(repeat).toMatchObject({
      status: 'error',
      invocationId,
      error: { code: 'INTERNAL', message: 'The gateway stopped before the outcome of this call was recorded' },
    });
    expect(errors).toEqual([]);
  });

  it('records and reports a repeat whose key the store cannot look up, instead of answering it as a silent replay', async () => {
    const { store, setBroken } = breakableStore('getInvocation', 'connection reset');
    const errors: unknown[] = [];
    gateway = createGateway({ store, tools: [transfer], policy: [{ id: 'all', effect: 'allow' }], onError: (error) => errors.push(error) });
    const { agent } = await gateway.admin.createAgent({ name: 'payments' });
    const call = { agentId: agent.id, tool: 'funds.transfer', input: { amount: 9 }, idempotencyKey: 'transfer-9' };
    expect(await gateway.invoke(call)).toMatchObject({ status: 'succeeded' });
    setBroken(true);
    const repeat = await gateway.invoke(call);
    setBroken(false);
    expect(repeat).toMatchObject({ status: 'error', error: { code: 'INTERNAL' } });
    const invocationId = (repeat as { invocationId?: string }).invocationId as string;
    expect(errors.length).toBeGreaterThan(0);
    expect(await gateway.admin.getInvocation(invocationId)).toMatchObject({ status: 'failed', error: { code: 'INTERNAL' } });
  });
});
