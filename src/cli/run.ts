import { GatewayError } from '../errors.js';
import { PACKAGE_VERSION } from '../version.js';
import { type CommandLine, UsageError, type WorkCommandName, parseCommandLine, usage } from './arguments.js';
import { auditExportCommand } from './commands/audit-export.js';
import { auditVerifyCommand } from './commands/audit-verify.js';
import { invocationsIncompleteCommand } from './commands/invocations-incomplete.js';
import { keysGenerateCommand } from './commands/keys-generate.js';
import { migrateCommand } from './commands/migrate.js';
import { type CliIo, ExitCode, describeError, writeLine } from './io.js';

const commands: Record<WorkCommandName, (line: CommandLine, io: CliIo) => Promise<number>> = {
  migrate: migrateCommand,
  'audit verify': auditVerifyCommand,
  'audit export': auditExportCommand,
  'invocations incomplete': invocationsIncompleteCommand,
  'keys generate': keysGenerateCommand,
};

/**
 * Runs `atg` with `argv` (the arguments after the program name) and returns the exit code:
 * 0 ok, 1 verification failed or problems found, 2 usage error, 3 could not run. Errors are
 * one line on stderr, never a stack trace.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let line: CommandLine;
  try {
    line = parseCommandLine(argv, io.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    writeLine(io.stderr, `atg: ${error.message}`);
    return ExitCode.usage;
  }
  if (line.command === 'help') {
    writeLine(io.stdout, usage(line.helpTopic));
    return ExitCode.ok;
  }
  if (line.command === 'version') {
    writeLine(io.stdout, PACKAGE_VERSION);
    return ExitCode.ok;
  }
  try {
    return await commands[line.command](line, io);
  } catch (error) {
    writeLine(io.stderr, `atg: ${describeError(error)}`);
    // A request the store cannot answer as asked (a range past the chain's end), or a data
    // directory that must not be used as given, is a usage error.
    const usageError = error instanceof UsageError || (error instanceof GatewayError && error.code === 'BAD_REQUEST');
    return usageError ? ExitCode.usage : ExitCode.failed;
  }
}
