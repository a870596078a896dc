import { GatewayError } from '../errors.js';

/** Where a command writes, and the environment it reads. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Record<string, string | undefined>;
}

/** `atg`'s exit codes. */
export const ExitCode = {
  /** Done; the chain is intact; nothing was found. */
  ok: 0,
  /** Verification failed (or left more entries unsigned than --max-unsigned allows), or problems were found (incomplete invocations). */
  problems: 1,
  /** The command line cannot be run as written. */
  usage: 2,
  /** The command could not run (database unreachable, schema missing, unreadable file), or its output could not be written. */
  failed: 3,
} as const;

/** A command could not run, for a reason worth one clear line: exit code 3. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
}

/** Writes one line of text. */
export function writeLine(stream: CliIo['stdout'], text: string): void {
  stream.write(`${text}\n`);
}

/** Writes a value as pretty JSON. */
export function writeJson(stream: CliIo['stdout'], value: unknown): void {
  stream.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** An error as one line: its message (or its parts' messages), never a stack trace. */
export function describeError(error: unknown): string {
  // The operator at the terminal is told why the store could not be reached.
  if (error instanceof GatewayError && error.code === 'STORE_UNAVAILABLE' && error.cause !== undefined) {
    return `${error.message}: ${describeError(error.cause)}`;
  }
  if (error instanceof AggregateError && error.message === '') {
    const parts = [...new Set(error.errors.map((inner: unknown) => describeError(inner)))];
    return parts.join('; ') || 'unknown error';
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    // node-postgres could not parse the database URL; its message is only "Invalid URL".
    if (code === 'ERR_INVALID_URL') {
      return 'the database URL is not a valid URL (not shown: it may hold a password); percent-encode any / ? # in its user name and password';
    }
    const message = error.message || (typeof code === 'string' ? code : error.name);
    return message.replace(/\s*\n\s*/g, ' ').trim();
  }
  return 'unknown error';
}
