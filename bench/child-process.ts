/**
 * Starting and talking to the benchmark's child processes. Every server, load generator and
 * in-process measurement runs in its own Node process (TypeScript through tsx), so no two
 * share an event loop. Parent and child exchange JSON messages over the IPC channel.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A message between the bench and a child: `type` says what it is. */
export interface BenchMessage {
  type: string;
  [field: string]: unknown;
}

/** A running child. */
export interface BenchChild {
  readonly process: ChildProcess;
  /** The next message of this type (rejects if the child exits first or after `timeoutMs`). */
  next(type: string, timeoutMs?: number): Promise<BenchMessage>;
  /** Sends a message and waits for the reply of type `replyType`. */
  ask(message: BenchMessage, replyType: string, timeoutMs?: number): Promise<BenchMessage>;
  /** Asks the child to stop (it exits on its own, writing any CPU profile), then waits for it. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Options of {@link startChild}. */
export interface StartChildOptions {
  /** Extra Node flags, such as `--expose-gc` or `--cpu-prof`. */
  nodeFlags?: string[];
  /** Command-line arguments of the child script. */
  args?: string[];
  /**
   * A program that runs Node, and its arguments before Node's path (such as
   * `['valgrind', '--tool=callgrind']`). The IPC channel passes through it.
   */
  wrapper?: string[];
}

const benchDirectory = fileURLToPath(new URL('.', import.meta.url));

// tsx turns Node's source-map support on, for readable stack traces of the bench's own
// TypeScript. Every process that startChild starts imports this module (servers, load
// generators, the in-process and memory measurements), and none of them needs it: with it on,
// the first stack trace that reaches the built package's code parses the bundle's source
// map, a pause of tens of milliseconds (43 ms, measured) that no production process has.
process.setSourceMapsEnabled(false);

// A child whose parent bench goes away (finished, crashed, killed) exits at once, whatever
// it was doing, so no server or load generator is left behind.
if (process.send !== undefined) process.once('disconnect', () => process.exit(0));

/** Starts `bench/<script>` in a new Node process with an IPC channel. */
export function startChild(script: string, options: StartChildOptions = {}): BenchChild {
  const nodeArgv = ['--import', 'tsx', ...(options.nodeFlags ?? [])];
  const [wrapperProgram, ...wrapperArgs] = options.wrapper ?? [];
  const child = fork(benchDirectory + script, options.args ?? [], {
    ...(wrapperProgram === undefined
      ? { execArgv: nodeArgv }
      : { execPath: wrapperProgram, execArgv: [...wrapperArgs, process.execPath, ...nodeArgv] }),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const inbox: BenchMessage[] = [];
  const waiting = new Set<{ type: string; resolve(message: BenchMessage): void; reject(error: Error): void }>();
  let exitError: Error | undefined;

  child.on('message', (raw) => {
    const message = raw as BenchMessage;
    for (const waiter of waiting) {
      if (waiter.type === message.type) {
        waiting.delete(waiter);
        waiter.resolve(message);
        return;
      }
    }
    inbox.push(message);
  });
  child.on('exit', (code, signal) => {
    exitError = new Error(`${script} exited (${signal ?? `code ${code}`})`);
    for (const waiter of waiting) waiter.reject(exitError);
    waiting.clear();
  });

  const next = (type: string, timeoutMs = 120_000): Promise<BenchMessage> => {
    const queued = inbox.findIndex((message) => message.type === type);
    if (queued >= 0) return Promise.resolve(inbox.splice(queued, 1)[0] as BenchMessage);
    if (exitError !== undefined) return Promise.reject(exitError);
    return new Promise((resolve, reject) => {
      const waiter = {
        type,
        resolve: (message: BenchMessage) => {
          clearTimeout(timer);
          resolve(message);
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        waiting.delete(waiter);
        reject(new Error(`${script}: no "${type}" message within ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.add(waiter);
    });
  };

  return {
    process: child,
    next,
    ask(message, replyType, timeoutMs) {
      const reply = next(replyType, timeoutMs);
      child.send(message);
      return reply;
    },
    async stop(timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      if (child.connected) child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * The child side: sends a message to the parent bench process. Throws when the script was
 * not started by the bench (no IPC channel).
 */
export function sendToParent(message: BenchMessage): Promise<void> {
  if (process.send === undefined) throw new Error('This script is a benchmark child: start it with `npx tsx bench/run.ts`');
  return new Promise((resolve, reject) => {
    process.send?.(message, undefined, {}, (error) => (error ? reject(error) : resolve()));
  });
}

/** The child side: calls `handler` for each message from the parent; `stop` runs `onStop` and exits. */
export function onParentMessage(handler: (message: BenchMessage) => void | Promise<void>, onStop: () => Promise<void>): void {
  process.on('message', (raw) => {
    const message = raw as BenchMessage;
    if (message.type === 'stop') {
      onStop()
        .catch((error: unknown) => console.error(error))
        .finally(() => {
          process.disconnect?.();
          // process.exit (not a signal) lets --cpu-prof write its profile.
          process.exit(0);
        });
      return;
    }
    Promise.resolve(handler(message)).catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
  });
}

/** Reads `--name=value` arguments. */
export function readArguments(argv: readonly string[] = process.argv.slice(2)): Map<string, string> {
  const values = new Map<string, string>();
  for (const argument of argv) {
    const match = /^--([^=]+)(?:=(.*))?$/.exec(argument);
    if (match) values.set(match[1] as string, match[2] ?? 'true');
  }
  return values;
}
