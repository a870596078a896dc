import { describe, expect, it } from 'vitest';
import {
  type AuditEntry,
  type AuditSink,
  type AuditSinkDrop,
  type Store,
  createGateway,
  defineTool,
  memoryStore,
} from '../../src/index.js';
import { closesWithinFakeTime } from '../helpers.js';

const ping = defineTool({
  name: 'ping',
  description: 'answers',
  inputSchema: { type: 'object', properties: {} } as const,
  handler: () => ({ ok: true }),
});

/** A memory store whose chain refuses every append after the first `n`. */
function brokenAfter(n: number): Store {
  const inner = memoryStore();
  let appends = 0;
  return new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'appendAudit') {
        return async (entries: AuditEntry[]) => {
          if (++appends > n) throw new Error('disk full');
          return target.appendAudit(entries);
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
}

/** A sink whose writes wait until `release()`. */
function stuckSink() {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const written: number[] = [];
  const sink: AuditSink = {
    async write(entries: AuditEntry[]) {
      await gate;
      written.push(...entries.map((entry) => entry.seq));
    },
  };
  return { sink, written, release };
}

describe('audit sink drops through createGateway', () => {
  it('reach onSinkDrop each time, and onError once every 5 s per sink with what was dropped since', async () => {
    let clock = Date.parse('2026-11-25T10:00:00Z');
    const errors: Error[] = [];
    const drops: AuditSinkDrop[] = [];
    const { sink, release } = stuckSink();
    // How many entries had been dropped, since the report before, when onError was told.
    const droppedAtReport: number[] = [];
    const dropped = () => drops.reduce((sum, drop) => sum + drop.toSeq - drop.fromSeq + 1, 0);
    const gateway = createGateway({
      now: () => clock,
      tools: [ping],
      policy: [{ id: 'all', effect: 'allow' }],
      auditSinks: [sink],
      audit: { sinkQueueLimit: 10, onSinkDrop: (_count, _sink, drop) => drops.push(drop) },
      onError: (error) => {
        errors.push(error as Error);
        droppedAtReport.push(dropped() - droppedAtReport.reduce((sum, count) => sum + count, 0));
      },
    });
    const { agent } = await gateway.admin.createAgent({ name: 'a' });
    for (let index = 0; index < 20; index++) await gateway.invoke({ agentId: agent.id, tool: 'ping' });
    expect(drops.length).toBeGreaterThan(1);
    expect(drops.every((drop) => drop.reason === 'queue_full')).toBe(true);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toContain(`did not get ${droppedAtReport[0]} audit entries (queue_full`);
    expect(droppedAtReport[0]).toBe(drops[0] && drops[0].toSeq - drops[0].fromSeq + 1);

    clock += 5000;
    await gateway.invoke({ agentId: agent.id, tool: 'ping' });
    expect(errors).toHaveLength(2);
    expect(errors[1]?.message).toContain(`did not get ${droppedAtReport[1]} audit entries (queue_full`);
    // More drops within 5 s are told at close(): every dropped entry is counted once.
    for (let index = 0; index < 3; index++) await gateway.invoke({ agentId: agent.id, tool: 'ping' });
    expect(errors).toHaveLength(2);
    release();
    await gateway.close();
    const told = errors.map((error) => Number(/did not get (\d+) audit entries \(queue_full/.exec(error.message)?.[1]));
    expect(told).toHaveLength(3);
    expect(told.reduce((sum, count) => sum + count, 0)).toBe(dropped());
  });

  it('ignore an async onSinkDrop, onAuditError or onError that rejects', async () => {
    const { sink, release } = stuckSink();
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', listener);
    try {
      const gateway = createGateway({
        tools: [ping],
        policy: [{ id: 'all', effect: 'allow' }],
        auditSinks: [sink],
        store: brokenAfter(3),
        audit: {
          failMode: 'open',
          sinkQueueLimit: 0,
          onSinkDrop: async () => Promise.reject(new Error('hook failed')),
          onAuditError: async () => Promise.reject(new Error('hook failed')),
        },
        onError: async () => Promise.reject(new Error('hook failed')),
      });
      const { agent } = await gateway.admin.createAgent({ name: 'a' });
      for (let index = 0; index < 4; index++) {
        expect((await gateway.invoke({ agentId: agent.id, tool: 'ping' })).status).toBe('succeeded');
      }
      release();
      await gateway.close();
      // Rejections surface a turn or two later, if at all.
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      process.off('unhandledRejection', listener);
    }
    expect(unhandled).toEqual([]);
  });

  it('report what a sink still had queued when close() gave up on it', async () => {
    const errors: Error[] = [];
    const drops: AuditSinkDrop[] = [];
    const { sink, written, release } = stuckSink();
    const gateway = createGateway({
      tools: [ping],
      policy: [{ id: 'all', effect: 'allow' }],
      auditSinks: [sink],
      audit: { sinkCloseTimeoutMs: 0, onSinkDrop: (_count, _sink, drop) => drops.push(drop) },
      onError: (error) => errors.push(error as Error),
    });
    const { agent } = await gateway.admin.createAgent({ name: 'a' });
    for (let index = 0; index < 3; index++) await gateway.invoke({ agentId: agent.id, tool: 'ping' });
    // The first write never finishes while close() waits: it gives up at once.
    await gateway.close();
    expect(drops.map((drop) => drop.reason)).toContain('closed');
    expect(errors.some((error) => /\(closed; /.test(error.message))).toBe(true);
    // The write under way finishes once let go; nothing given up on reaches the sink.
    release();
    while (written.length === 0) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 10));
    const droppedSeqs = drops.flatMap((drop) => Array.from({ length: drop.toSeq - drop.fromSeq + 1 }, (_, i) => drop.fromSeq + i));
    expect(written).toEqual([0]);
    expect(droppedSeqs[0]).toBe(1);
  });

  it('give up on a stuck sink within what is left of close()’s timeoutMs (at least 1 s), not sinkCloseTimeoutMs', async () => {
    const errors: Error[] = [];
    const drops: AuditSinkDrop[] = [];
    const never = new Promise<void>(() => undefined);
    let closeSignal: AbortSignal | undefined;
    const sink: AuditSink = {
      write: () => never,
      close(options) {
        closeSignal = options?.signal;
        return never;
      },
    };
    // sinkCloseTimeoutMs is left at its default, 10 s, for draining and again for the sink's close().
    const gateway = createGateway({
      tools: [ping],
      policy: [{ id: 'all', effect: 'allow' }],
      auditSinks: [sink],
      audit: { onSinkDrop: (_count, _sink, drop) => drops.push(drop) },
      onError: (error) => errors.push(error as Error),
    });
    const { agent } = await gateway.admin.createAgent({ name: 'a' });
    for (let index = 0; index < 3; index++) await gateway.invoke({ agentId: agent.id, tool: 'ping' });

    // The deadline is on Node's performance clock, which fake timers leave running: in fake
    // time the sink's draining and then its close() may each take up to the second left.
    await closesWithinFakeTime(() => gateway.close({ timeoutMs: 500 }), 2_000);
    expect((closeSignal?.reason as DOMException | undefined)?.name).toBe('TimeoutError');
    // The first entry's write never ends; every entry after it is reported, to onError too.
    const last = drops[0]?.toSeq ?? -1;
    expect(last).toBeGreaterThan(1);
    expect(drops).toEqual([{ reason: 'closed', fromSeq: 1, toSeq: last }]);
    expect(errors.map((error) => error.message)).toEqual([
      `An audit sink did not get ${last} audit entries (closed; the last up to seq ${last})`,
    ]);
  });

  it('refuses limits that cannot work', () => {
    expect(() => createGateway({ audit: { sinkQueueLimit: -1 } })).toThrow(/sinkQueueLimit/);
    expect(() => createGateway({ audit: { sinkCloseTimeoutMs: Number.NaN } })).toThrow(/sinkCloseTimeoutMs/);
  });
});
