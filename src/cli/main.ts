#!/usr/bin/env node
/**
 * The `atg` command: database migrations, audit verification and export, incomplete
 * invocations, encryption keys. See docs/cli.md.
 *
 * @packageDocumentation
 */
import { ExitCode, processInterrupts } from './io.js';
import { runCli } from './run.js';

/** Set when stdout could not be written for a reason other than its reader leaving: the output is lost. */
let outputLost = false;

// A failed write is reported on the stream, not thrown: without a listener it would end the
// process with a stack trace and exit code 1, which reads as "problems found".
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  // The reader went away (`atg … | head`): the rest has nowhere to go. The command still
  // finishes, closes its connections and exits with its own code.
  if (error.code === 'EPIPE' || outputLost) return;
  outputLost = true;
  process.exitCode = ExitCode.failed;
  process.stderr.write(`atg: cannot write the output: ${error.message.replace(/\s*\n\s*/g, ' ')}\n`);
});
// Nowhere is left to report a failure to write errors themselves.
process.stderr.on('error', () => undefined);

const io = { stdout: process.stdout, stderr: process.stderr, env: process.env, onInterrupt: processInterrupts(process) };
runCli(process.argv.slice(2), io).then(
  (code) => {
    process.exitCode = outputLost ? ExitCode.failed : code;
  },
  () => {
    process.stderr.write('atg: unexpected failure\n');
    process.exitCode = ExitCode.failed;
  },
);
