import { createGateway } from '../../gateway.js';
import type { CommandLine, StoreSelection } from '../arguments.js';
import { type CliIo, ExitCode, writeJson, writeLine } from '../io.js';
import { openStore } from '../store-connection.js';

/**
 * `atg invocations incomplete`: the gateway's own `admin.incompleteInvocations`, run against
 * the store, so a call is marked `outcome_unknown` exactly as a running gateway marks it.
 */
export async function invocationsIncompleteCommand(line: CommandLine, io: CliIo): Promise<number> {
  const store = await openStore(line.store as StoreSelection, { create: false });
  let gateway: ReturnType<typeof createGateway>;
  try {
    // No tools, no timers: only the store and the audit trail are used.
    gateway = createGateway({ store, refreshIntervalMs: 0, onError: () => undefined });
  } catch (error) {
    await store.close();
    throw error;
  }
  try {
    const found = await gateway.admin.incompleteInvocations(line.graceMs === undefined ? {} : { graceMs: line.graceMs });
    if (line.json) writeJson(io.stdout, { incomplete: found });
    else if (found.length === 0) writeLine(io.stdout, 'No incomplete invocations.');
    else {
      for (const call of found) {
        const line =
          call.approvalId !== undefined
            ? `approved ${call.startedAt}, never started: approval ${call.approvalId} reopened (audit seq ${call.startSeq})`
            : `started ${call.startedAt}  (audit seq ${call.startSeq})${call.status === 'outcome_unknown' ? '' : `  ${call.status}: outcome event recovered from its record`}`;
        writeLine(io.stdout, `${call.invocationId}  tool ${call.tool ?? '?'}  agent ${call.agentId ?? '?'}  ${line}`);
      }
      const unknown = found.filter((call) => call.status === 'outcome_unknown').length;
      const reopened = found.filter((call) => call.approvalId !== undefined).length;
      const recovered = found.length - unknown - reopened;
      const parts = [`${unknown} marked outcome_unknown`];
      if (recovered > 0) parts.push(`${recovered} with the outcome their record held`);
      if (reopened > 0) parts.push(`${reopened} approved but never started, their approval${reopened === 1 ? '' : 's'} reopened`);
      writeLine(io.stdout, `${found.length} incomplete invocation${found.length === 1 ? '' : 's'}: ${parts.join(', ')}.`);
    }
    return found.length === 0 ? ExitCode.ok : ExitCode.problems;
  } finally {
    await gateway.close();
  }
}
