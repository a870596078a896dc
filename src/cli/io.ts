import { GatewayError } from '../errors.js';

/** Where a command writes, and the environment it reads. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Record<string, string | undefined>;
  /**
   * Listens for an interrupt (Ctrl-C, SIGTERM) while a command has work to undo, and returns
   * how to stop listening. Without it (or once it has called `stop`), an interrupt ends the
   * process as usual.
   */
  onInterrupt?(stop: (signal: InterruptSignal) => void): () => void;
}

/** The signals a command may clean up after. */
export type InterruptSignal = 'SIGINT' | 'SIGTERM';

/** The exit code of a command stopped by `signal`, as shells give it: 128 plus the signal's number. */
export function interruptedExitCode(signal: InterruptSignal): number {
  return signal === 'SIGINT' ? 130 : 143;
}

/**
 * {@link CliIo.onInterrupt} over a process's signals: the first SIGINT or SIGTERM goes to
 * `stop`, and the listeners are removed, so a second one ends the process at once.
 */
export function processInterrupts(target: Pick<NodeJS.Process, 'once' | 'off'>): NonNullable<CliIo['onInterrupt']> {
  return (stop) => {
    const signals: InterruptSignal[] = ['SIGINT', 'SIGTERM'];
    const listener = (signal: InterruptSignal) => {
      stopListening();
      stop(signal);
    };
    const stopListening = () => {
      for (const signal of signals) target.off(signal, listener);
    };
    for (const signal of signals) target.once(signal, listener);
    return stopListening;
  };
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
