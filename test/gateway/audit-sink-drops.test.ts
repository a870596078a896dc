import { describe, expect, it } from 'vitest';
import { type AuditEntry, type AuditSink, type AuditSinkDrop, createGateway, defineTool } from '../../src/index.js';

const ping = defineTool({
  name: 'ping',
  description: 'answers',
  inputSchema: { type: 'object', properties: {} } as const,
  handler: () => ({ ok: true }),
});

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
    release();
    await gateway.close();
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
    release();
    expect(drops.map((drop) => drop.reason)).toContain('closed');
    expect(errors.some((error) => /\(closed; /.test(error.message))).toBe(true);
    // Nothing reached the sink after it was given up on: what it got and what was dropped add up.
    const droppedSeqs = drops.flatMap((drop) => Array.from({ length: drop.toSeq - drop.fromSeq + 1 }, (_, i) => drop.fromSeq + i));
    expect(written.filter((seq) => droppedSeqs.includes(seq))).toEqual([]);
  });

  it('refuses limits that cannot work', () => {
    expect(() => createGateway({ audit: { sinkQueueLimit: -1 } })).toThrow(/sinkQueueLimit/);
    expect(() => createGateway({ audit: { sinkCloseTimeoutMs: Number.NaN } })).toThrow(/sinkCloseTimeoutMs/);
  });
});
