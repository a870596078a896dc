import { afterEach, describe, expect, it } from 'vitest';
import {
  type ApprovalNotice,
  type Gateway,
  createGateway,
  generateAuditSigningKey,
  memoryStore,
  webhookApprover,
} from '../../src/index.js';
import { refund } from '../fixtures.js';
import { deferred, listen, silentUpstream } from '../helpers.js';

let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
});

const notice = { id: 'ap-1', invocationId: 'in-1', agentId: 'ag-1', agentName: 'bot', tool: 'refunds.create' } as unknown as ApprovalNotice;
const needsApproval = [{ id: 'refunds', effect: 'require_approval' as const, tools: ['refunds.*'] }];

describe('webhookApprover close()', () => {
  it('ends the POST under way: the approval is reported as not delivered', async () => {
    const { privateKey } = await generateAuditSigningKey();
    const receiver = await silentUpstream();
    const errors: unknown[] = [];
    const approver = webhookApprover({ url: `${receiver.url}/hook`, signingKey: privateKey, onError: (error) => errors.push(error) });
    const notifying = approver.notify(notice);
    await receiver.arrived;
    await approver.close?.();
    await expect(notifying).rejects.toThrow('approval webhook: approval ap-1 not delivered: the approver was closed');
    await receiver.closed;
    expect(errors.map(String)).toEqual(['Error: approval webhook: approval ap-1 not delivered: the approver was closed']);
    await receiver.close();
  });

  it('sends nothing when closed while the notice is being signed', async () => {
    const { privateKey } = await generateAuditSigningKey();
    let posts = 0;
    const receiver = await listen((req, res) => {
      posts++;
      req.resume();
      res.writeHead(204).end();
    });
    const approver = webhookApprover({ url: `${receiver.url}/hook`, signingKey: privateKey });
    const notifying = approver.notify(notice);
    await approver.close?.();
    await expect(notifying).rejects.toThrow('approval webhook: approval ap-1 not delivered: the approver was closed');
    expect(posts).toBe(0);
    await receiver.close();
  });

  it('ends the wait for a retry, and sends nothing more', async () => {
    const { privateKey } = await generateAuditSigningKey();
    const answered = deferred();
    let posts = 0;
    const receiver = await listen((req, res) => {
      posts++;
      req.resume();
      res.on('finish', answered.resolve);
      res.writeHead(503).end();
    });
    // A retry an hour away: the wait, not the timer, is what close() ends.
    const approver = webhookApprover({ url: `${receiver.url}/hook`, signingKey: privateKey, retryBaseMs: 3_600_000 });
    const notifying = approver.notify(notice);
    await answered.promise;
    await approver.close?.();
    await expect(notifying).rejects.toThrow(/not delivered: the approver was closed/);
    expect(posts).toBe(1);
    await expect(approver.notify(notice)).rejects.toThrow(/not delivered: the approver was closed/);
    expect(posts).toBe(1);
    await receiver.close();
  });
});

describe('the gateway’s close() and its approver', () => {
  it('waits for a notification under way, and closes the approver after it', async () => {
    const released = deferred();
    const notified = deferred();
    const seen: string[] = [];
    gateway = createGateway({
      tools: [refund],
      policy: needsApproval,
      approver: {
        notify: async (approval) => {
          notified.resolve();
          await released.promise;
          seen.push(`notified ${approval.tool}`);
        },
        close: () => void seen.push('approver closed'),
      },
    });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    expect(await gateway.invoke({ agentKey: apiKey, tool: 'refunds.create', input: { orderId: 'A-1', amount: 500 } })).toMatchObject({
      status: 'pending_approval',
    });
    await notified.promise;
    const closing = gateway.close();
    seen.push('close() called');
    released.resolve();
    await closing;
    gateway = undefined;
    expect(seen).toEqual(['close() called', 'notified refunds.create', 'approver closed']);
  });

  it('gives up on a webhook delivery after timeoutMs, and tells onError which approval was not delivered', async () => {
    const { privateKey } = await generateAuditSigningKey();
    const receiver = await silentUpstream();
    const errors: unknown[] = [];
    gateway = createGateway({
      tools: [refund],
      policy: needsApproval,
      approver: webhookApprover({ url: `${receiver.url}/hook`, signingKey: privateKey }),
      onError: (error) => errors.push(error),
    });
    const { apiKey } = await gateway.admin.createAgent({ name: 'bot' });
    const pending = await gateway.invoke({ agentKey: apiKey, tool: 'refunds.create', input: { orderId: 'A-1', amount: 500 } });
    const approvalId = (pending as { approval: { id: string } }).approval.id;
    await receiver.arrived;
    await gateway.close({ timeoutMs: 20 });
    gateway = undefined;
    await receiver.closed;
    expect(errors.map(String)).toEqual([
      expect.stringMatching(/^Error: close\(\): 1 call\(s\), admin change\(s\) or background task\(s\) still under way after 20 ms/),
      `Error: approval webhook: approval ${approvalId} not delivered: the approver was closed`,
    ]);
    await receiver.close();
  });

  it('does not wait for ever for an approver whose close() never settles', async () => {
    const errors: unknown[] = [];
    let storeClosed = false;
    const inner = memoryStore();
    const store = new Proxy(inner, {
      get: (target, property, receiver) =>
        property === 'close'
          ? async () => {
              storeClosed = true;
              await target.close();
            }
          : Reflect.get(target, property, receiver),
    });
    const approver = { notify: () => undefined, close: () => new Promise<void>(() => undefined) };
    const stuck = createGateway({ tools: [refund], store, approver, onError: (error) => errors.push(error) });
    await stuck.close({ timeoutMs: 0 });
    expect(errors.map(String)).toEqual([
      expect.stringMatching(/^Error: close\(\): the approver's close\(\) did not settle within \d+ ms; closing anyway$/),
    ]);
    // The rest was closed after it.
    expect(storeClosed).toBe(true);
  });

  it('tells onError when the approver’s close() fails, and closes all the same', async () => {
    const errors: unknown[] = [];
    const approver = { notify: () => undefined, close: () => Promise.reject(new Error('approver stuck')) };
    const closing = createGateway({ tools: [refund], approver, onError: (error) => errors.push(error) });
    await closing.close();
    expect(errors.map(String)).toEqual(['Error: approver stuck']);
    expect(await closing.invoke({ agentId: 'a', tool: 'refunds.create' })).toMatchObject({ error: { code: 'GATEWAY_CLOSED' } });
  });
});
