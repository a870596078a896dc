import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, existsSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeEntryHash } from '../../src/audit/hash.js';
import { generateAuditSigningKey } from '../../src/audit/keys.js';
import { type CliIo, processInterrupts } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/run.js';
import { createAuditLog } from '../../src/audit/log.js';
import { createGateway, defineTool } from '../../src/index.js';
import { sqlStore } from '../../src/store/sql/index.js';
import type { AuditEvent } from '../../src/store/types.js';
import { postgresUrl, randomSchema } from '../e2e/fixtures/sql-engines.js';

const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const slow = { timeout: 180_000 };

/** The environment of a child `atg`, without any ATG_* variable of the machine running the tests. */
function cleanEnvironment(extra: Record<string, string>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('ATG_')) env[name] = value;
  return { ...env, ...extra };
}

/** Runs `atg` in this process, for checks of the command line alone. */
async function atgInProcess(args: string[], env: Record<string, string> = {}, onInterrupt?: CliIo['onInterrupt']) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env,
    ...(onInterrupt === undefined ? {} : { onInterrupt }),
  });
  return { code, stdout, stderr };
}

/**
 * Runs `atg` as a child process, like a user would. `stdout`, a file descriptor, replaces
 * the pipe its output is read from (then `stdout` in the result is empty).
 */
function atg(
  args: string[],
  env: Record<string, string> = {},
  options: { stdout?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], {
      env: cleanEnvironment(env) as NodeJS.ProcessEnv,
      stdio: ['ignore', options.stdout ?? 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const echo = defineTool({
  name: 'echo',
  description: 'Echo',
  inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } as const,
  handler: ({ text }) => ({ text }),
});

let workDir: string;
beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'atg-cli-'));
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('atg: usage', () => {
  it('prints help (exit 0), and refuses what it cannot run with one line (exit 2)', slow, async () => {
    const help = await atg(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: atg <command>/);
    expect(help.stdout).toContain('audit verify');

    // Bare `atg` is the help too; options without a command ran nothing, and say so.
    expect(await atg([])).toMatchObject({ code: 0, stdout: help.stdout, stderr: '' });
    expect(await atg(['--data-dir', workDir, '--json'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'atg: no command given; run atg --help\n',
    });

    const commandHelp = await atg(['audit', 'export', '--help']);
    expect(commandHelp.code).toBe(0);
    expect(commandHelp.stdout).toContain('--out <dir>');

    const unknown = await atg(['frobnicate']);
    expect(unknown).toMatchObject({ code: 2, stdout: '', stderr: 'atg: unknown command "frobnicate"; run atg --help\n' });

    // A mistyped option is named, never the value given with it.
    const mistyped = await atg(['migrate', '--databse-url=postgres://atg:s3cret@db.internal/atg']);
    expect(mistyped).toMatchObject({ code: 2, stdout: '', stderr: 'atg: unknown option --databse-url; run atg --help\n' });
  });

  it('refuses every command line it cannot run as written, in one line, without touching a store', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['audit'], /needs a subcommand: verify or export/],
      [['--data-dir', workDir], /^atg: no command given; run atg --help\n$/],
      [['--json'], /^atg: no command given; run atg --help\n$/],
      [['audit', 'verify', 'extra'], /"atg audit verify" takes no arguments besides options \(1 more given\)/],
      [
        ['audit', 'verify', 'postgres://atg:s3cret@db.internal/atg'],
        /^atg: "atg audit verify" takes no arguments besides options \(1 more given\); run atg --help\n$/,
      ],
      [['migrate', 'postgres://atg:s3cret@db.internal/atg'], /^atg: "atg migrate" takes no arguments besides options/],
      [['postgres://atg:s3cret@db.internal/atg'], /^atg: unknown command \(a value\); run atg --help\n$/],
      [['migrate', '--no-such-option'], /^atg: unknown option --no-such-option; run atg --help\n$/],
      [['audit', 'verify', '-x'], /^atg: unknown option -x; run atg --help\n$/],
      // A value run into an unknown option is not echoed.
      [
        ['migrate', '--url:postgres://atg:s3cret@db.internal/atg'],
        /^atg: unknown option \(not shown: it may hold a password\); run atg --help\n$/,
      ],
      [['migrate', '--data-dir'], /^atg: --data-dir needs a value\n$/],
      [['migrate', '--data-dir', '--json'], /^atg: --data-dir needs a value; give one that starts with "-" as --data-dir=<value>\n$/],
      [['migrate', '--json=yes'], /^atg: --json takes no value\n$/],
      [['audit', 'verify'], /no store: give --database-url or --data-dir/],
      [['audit', 'verify', '--data-dir', workDir, '--from', 'ten'], /--from must be a non-negative integer/],
      [['audit', 'verify', '--data-dir', workDir, '--from', '5', '--to', '2'], /--from must not be greater than --to/],
      [['migrate', '--data-dir', workDir, '--out', 'x'], /--out does not apply to "atg migrate"/],
      [['migrate', '--data-dir', workDir, '--database-url', 'postgres://x'], /not both/],
      // node-postgres would take these for a path on a host named "base": refused, unprinted.
      ...['host=db.internal user=atg password=s3cret dbname=atg', 'atg:s3cret@db.internal/atg'].map((url): [string[], RegExp] => [
        ['migrate', '--database-url', url],
        /^atg: --database-url takes a postgres:\/\/ URL, and the value given is not one \(not shown: it may hold a password\); e\.g\. postgres:\/\/user:password@host:5432\/database\n$/,
      ]),
      [['audit', 'export', '--data-dir', workDir], /needs --out <dir>/],
      [['audit', 'verify', '--file', workDir, '--data-dir', workDir], /--file verifies an export offline/],
      [['audit', 'verify', '--file', workDir, '--from', '1'], /do not apply to --file/],
      [
        ['audit', 'verify', '--data-dir', workDir, '--public-key', 'k.jwk', '--max-unsigned', 'many'],
        /--max-unsigned must be a non-negative integer/,
      ],
      [['audit', 'verify', '--file', workDir, '--max-unsigned', '0'], /--max-unsigned needs --public-key/],
      [
        ['audit', 'export', '--data-dir', workDir, '--out', 'x', '--max-unsigned', '0'],
        /--max-unsigned does not apply to "atg audit export"/,
      ],
      [['keys', 'generate', '--data-dir', workDir], /--data-dir does not apply to "atg keys generate"/],
      [
        ['migrate', '--data-dir', workDir, '--schema', 'Robert"); DROP TABLE students;--'],
        /schema .* is not valid: it must be 1 to 48 characters of lower-case letters, digits and underscores, not starting with a digit\n$/,
      ],
      // A name of the right form that Postgres keeps for itself: the store's check says so.
      [
        ['migrate', '--data-dir', workDir, '--schema', 'pg_x'],
        /^atg: schema "pg_x" is not valid: it is reserved by Postgres; choose another name\n$/,
      ],
    ];
    for (const [args, message] of cases) {
      const result = await atgInProcess(args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toMatch(/^atg: [^\n]+\n$/);
      expect(result.stdout).toBe('');
    }
    expect(await atgInProcess(['audit', 'verify'], { ATG_DATABASE_URL: 'db.internal/atg?password=s3cret' })).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'atg: ATG_DATABASE_URL takes a postgres:// URL, and the value given is not one (not shown: it may hold a password); e.g. postgres://user:password@host:5432/database\n',
    });
    expect(await atgInProcess(['audit', 'verify', '--data-dir', workDir], { ATG_SCHEMA: 'information_schema' })).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^atg: schema "information_schema" is not valid: it is reserved by Postgres; choose another name\n$/),
    });
    // The environment names a store when no flag does; a flag wins over it.
    expect((await atgInProcess(['audit', 'verify', '--from', 'x'], { ATG_DATA_DIR: workDir })).stderr).toMatch(/--from/);
    const help = await atgInProcess(['help', 'invocations', 'incomplete']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: atg invocations incomplete/);
    // Help for a group of commands is the general help, which lists them.
    for (const args of [
      ['audit', '--help'],
      ['help', 'audit'],
      ['invocations', '-h'],
    ]) {
      const groupHelp = await atgInProcess(args);
      expect({ args, code: groupHelp.code, stderr: groupHelp.stderr }).toEqual({ args, code: 0, stderr: '' });
      expect(groupHelp.stdout).toMatch(/^Usage: atg <command>/);
    }
    // A value that is not a number is not echoed: it may be a database URL given to the wrong flag.
    const misplaced = await atgInProcess(['audit', 'verify', '--data-dir', workDir, '--from', 'postgres://atg:s3cret@db/atg']);
    expect(misplaced).toMatchObject({ code: 2, stderr: 'atg: --from must be a non-negative integer\n' });
    expect((await atgInProcess(['audit', 'verify', '--data-dir', workDir, '--from', '1.5'])).stderr).toBe(
      'atg: --from must be a non-negative integer, not "1.5"\n',
    );
  });

  it('refuses a URL given as the data directory without printing it, and creates nothing', async () => {
    const url = 'postgres://atg:s3cret@db.internal/atg';
    const cwd = await readdir(process.cwd());
    for (const command of [['migrate'], ['audit', 'verify'], ['audit', 'export', '--out', join(workDir, 'never')]]) {
      const flagged = await atgInProcess([...command, '--data-dir', url]);
      expect(flagged).toEqual({
        code: 2,
        stdout: '',
        stderr:
          'atg: --data-dir takes a directory, and the value given looks like a postgres:// URL (not shown: it may hold a password); give a database URL with --database-url\n',
      });
      const fromEnvironment = await atgInProcess(command, { ATG_DATA_DIR: url });
      expect(fromEnvironment.code).toBe(2);
      expect(fromEnvironment.stderr).toBe(
        'atg: ATG_DATA_DIR takes a directory, and the value given looks like a postgres:// URL (not shown: it may hold a password); give a database URL with ATG_DATABASE_URL\n',
      );
    }
    expect(await readdir(process.cwd())).toEqual(cwd);
  });

  it('prints its version with --version (exit 0); with a command it is refused', slow, async () => {
    const version = await atg(['--version']);
    expect(version).toMatchObject({ code: 0, stderr: '' });
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+(?:-[\w.]+)?\n$/);
    // As built: the package's own version.
    const { version: packageVersion } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(await atgInProcess(['--version'])).toEqual({ code: 0, stdout: `${packageVersion}\n`, stderr: '' });
    expect(await atgInProcess(['migrate', '--version'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'atg: --version does not apply to "atg migrate"\n',
    });
  });

  it('keys generate prints a base64 key of 32 bytes and nothing else', slow, async () => {
    const result = await atg(['keys', 'generate']);
    expect(result.code).toBe(0);
    expect(Buffer.from(result.stdout.trim(), 'base64')).toHaveLength(32);
    expect(result.stdout.trim()).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });
});

/**
 * The write end of a pipe whose reader is already gone, as `atg … | head` leaves it once
 * `head` has what it wants: every write to it fails with EPIPE. A named pipe, so the reader
 * can be closed before `atg` starts.
 */
function pipeWithoutReader(name: string): number {
  const path = join(workDir, name);
  execFileSync('mkfifo', [path]);
  const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(path, constants.O_WRONLY);
  closeSync(reader);
  return writer;
}

describe('atg: interrupts', () => {
  it('hands the first SIGINT or SIGTERM to the command, then stops listening so a second one ends the process', async () => {
    const { EventEmitter } = await import('node:events');
    const target = new EventEmitter();
    const onInterrupt = processInterrupts(target as unknown as NodeJS.Process);
    const heard: string[] = [];
    const stopListening = onInterrupt((signal) => heard.push(signal));
    expect([target.listenerCount('SIGINT'), target.listenerCount('SIGTERM')]).toEqual([1, 1]);
    target.emit('SIGINT', 'SIGINT');
    expect(heard).toEqual(['SIGINT']);
    expect([target.listenerCount('SIGINT'), target.listenerCount('SIGTERM')]).toEqual([0, 0]);
    stopListening();

    // A command that ends first stops listening itself.
    onInterrupt((signal) => heard.push(signal))();
    expect([target.listenerCount('SIGINT'), target.listenerCount('SIGTERM')]).toEqual([0, 0]);
    onInterrupt((signal) => heard.push(signal));
    target.emit('SIGTERM', 'SIGTERM');
    expect(heard).toEqual(['SIGINT', 'SIGTERM']);
  });
});

describe.skipIf(process.platform === 'win32')('atg: output that cannot be written', () => {
  it('stops writing when the reader has gone (| head): no stack trace, and the exit code of the command', slow, async () => {
    const dataDir = join(workDir, 'epipe-db');
    const store = sqlStore({ client: new PGlite(dataDir), closeClient: true });
    // Creating the database can be slow on a busy machine: done before the append, whose wait is bounded.
    await store.migrate();
    const audit = createAuditLog({ store, appendTimeoutMs: 120_000 });
    await audit.append({ type: 'invocation.started', actor: 'agent:a-1', invocationId: 'inv-lost', agentId: 'a-1', tool: 'echo' });
    await audit.close();
    await store.close();

    const cases: Array<[string[], number]> = [
      [['--help'], 0],
      [['keys', 'generate'], 0],
      [['migrate', '--data-dir', dataDir], 0],
      [['audit', 'verify', '--data-dir', dataDir, '--json'], 0],
      // The call is found and marked, and the exit code still says so.
      [['invocations', 'incomplete', '--data-dir', dataDir, '--grace-ms', '0'], 1],
    ];
    for (const [index, [args, code]] of cases.entries()) {
      const stdout = pipeWithoutReader(`no-reader-${index}`);
      try {
        expect({ args, ...(await atg(args, {}, { stdout })) }).toEqual({ args, code, stdout: '', stderr: '' });
      } finally {
        closeSync(stdout);
      }
    }
    const marked = sqlStore({ client: new PGlite(dataDir), closeClient: true });
    expect(await marked.getInvocation('inv-lost')).toMatchObject({ status: 'outcome_unknown' });
    await marked.close();
  });

  it.skipIf(!existsSync('/dev/full'))('says in one line that its output could not be written (a full disk), exit 3', slow, async () => {
    const full = openSync('/dev/full', 'w');
    try {
      expect(await atg(['keys', 'generate'], {}, { stdout: full })).toEqual({
        code: 3,
        stdout: '',
        stderr: 'atg: cannot write the output: ENOSPC: no space left on device, write\n',
      });
    } finally {
      closeSync(full);
    }
  });
});

describe('atg on a PGlite data directory', () => {
  it('migrates, verifies the chain with checkpoint signatures, and reports the first broken seq', slow, async () => {
    const dataDir = join(workDir, 'not-yet', 'verify-db');
    const migrated = await atg(['migrate'], { ATG_DATA_DIR: dataDir });
    expect(migrated).toMatchObject({ code: 0, stderr: '' });
    expect(migrated.stdout).toMatch(/Schema "atg" migrated from version 0 to \d+\./);
    expect((await atg(['migrate', '--data-dir', dataDir])).stdout).toMatch(/Schema "atg" is up to date/);

    // A gateway writes calls and signed checkpoints, then stops.
    const signing = await generateAuditSigningKey();
    const gateway = createGateway({
      store: sqlStore({ client: new PGlite(dataDir), closeClient: true }),
      tools: [echo],
      policy: [{ id: 'allow', effect: 'allow', tools: ['echo'] }],
      audit: { appendTimeoutMs: 120_000, checkpoints: { signingKey: signing.privateJwk, everyEvents: 4, everyMs: 0 } },
      refreshIntervalMs: 0,
    });
    const { apiKey } = await gateway.admin.createAgent({ name: 'cli-bot' });
    for (let index = 0; index < 5; index++) {
      expect((await gateway.invoke({ agentKey: apiKey, tool: 'echo', input: { text: `t${index}` } })).status).toBe('succeeded');
    }
    await gateway.close();
    const publicKeyFile = join(workDir, 'checkpoint.jwk');
    await writeFile(publicKeyFile, JSON.stringify(signing.publicJwk));
    const otherKeyFile = join(workDir, 'other.jwk');
    await writeFile(otherKeyFile, JSON.stringify({ keys: [(await generateAuditSigningKey()).publicJwk] }));

    const verified = await atg(['audit', 'verify', '--data-dir', dataDir, '--public-key', publicKeyFile]);
    expect(verified).toMatchObject({ code: 0, stderr: '' });
    const [, intact, signed] =
      /^ok: audit chain intact through seq (\d+); signed checkpoints vouch through seq (\d+)\n$/.exec(verified.stdout) ?? [];
    const through = Number(intact);
    // The gateway signed its last head on close.
    expect(Number(signed)).toBe(through);
    expect(through).toBeGreaterThanOrEqual(9);

    const range = await atg(['audit', 'verify', '--data-dir', dataDir, '--from', '2', '--to', '5', '--json']);
    expect(range.code).toBe(0);
    expect(JSON.parse(range.stdout)).toEqual({ ok: true, through: 5 });
    const pastTheEnd = await atg(['audit', 'verify', '--data-dir', dataDir, '--from', '999999']);
    expect(pastTheEnd.code).toBe(2);
    expect(pastTheEnd.stderr).toMatch(/^atg: Nothing to verify: from \(999999\) is past the end of the chain \(its last entry is \d+\)\n$/);
    // One past the head holds no entry either: refused, not "ok through" the head.
    expect(await atgInProcess(['audit', 'verify', '--data-dir', dataDir, '--from', String(through + 1)])).toEqual({
      code: 2,
      stdout: '',
      stderr: `atg: Nothing to verify: from (${through + 1}) is past the end of the chain (its last entry is ${through})\n`,
    });
    expect(await atgInProcess(['audit', 'verify', '--data-dir', dataDir, '--from', String(through)])).toMatchObject({
      code: 0,
      stdout: `ok: audit chain intact through seq ${through}\n`,
    });

    const wrongKey = await atg(['audit', 'verify', '--data-dir', dataDir, '--public-key', otherKeyFile]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stdout).toMatch(/^broken: audit chain at seq \d+: a checkpoint signature does not verify \(bad_checkpoint_signature\)/);

    // Someone edits an event in the database.
    const database = new PGlite(dataDir);
    await database.query(
      `UPDATE atg.audit_entries SET event = json_build_object('id', 'forged', 'type', 'x', 'at', 'y', 'actor', 'z') WHERE seq = 3`,
    );
    await database.close();
    const tampered = await atg(['audit', 'verify', '--data-dir', dataDir, '--json']);
    expect(tampered.code).toBe(1);
    expect(JSON.parse(tampered.stdout)).toEqual({ ok: false, through: 2, brokenAt: 3, reason: 'edited' });
    const tamperedText = await atg(['audit', 'verify', '--data-dir', dataDir]);
    expect(tamperedText.stdout).toBe('broken: audit chain at seq 3: an entry no longer matches its hash (edited); intact through seq 2\n');
    // From the broken entry itself: none of the range verified, and seq 2 was never looked at.
    expect((await atgInProcess(['audit', 'verify', '--data-dir', dataDir, '--from', '3'])).stdout).toBe(
      'broken: audit chain at seq 3: an entry no longer matches its hash (edited); no entry verified\n',
    );
  });

  it('exports a range and verifies the export offline, and finds damage in it', slow, async () => {
    const dataDir = join(workDir, 'export-db');
    const store = sqlStore({ client: new PGlite(dataDir), closeClient: true });
    const audit = createAuditLog({ store, appendTimeoutMs: 120_000 });
    for (let index = 0; index < 12; index++) await audit.append({ type: 'admin.agent.created', actor: 'admin:alice', data: { index } });
    await audit.close();
    await store.close();

    const out = join(workDir, 'evidence');
    const exported = await atg(['audit', 'export', '--data-dir', dataDir, '--from', '2', '--to', '9', '--out', out]);
    expect(exported).toMatchObject({ code: 0, stderr: '' });
    expect(exported.stdout).toContain('Exported 8 audit entries (seq 2 to 9)');
    expect((await readdir(out)).sort()).toEqual(['audit-2-9.jsonl', 'manifest.json']);
    // An export is never written over another: its manifest would be replaced, and its entries left without one.
    const manifestText = await readFile(join(out, 'manifest.json'), 'utf8');
    expect(await atg(['audit', 'export', '--data-dir', dataDir, '--from', '0', '--to', '3', '--out', out])).toEqual({
      code: 2,
      stdout: '',
      stderr: `atg: ${out} already holds an audit export (audit-2-9.jsonl, manifest.json); give --out a new or empty directory, or move that export away\n`,
    });
    expect((await readdir(out)).sort()).toEqual(['audit-2-9.jsonl', 'manifest.json']);
    expect(await readFile(join(out, 'manifest.json'), 'utf8')).toBe(manifestText);
    const aFile = join(out, 'audit-2-9.jsonl');
    expect(await atgInProcess(['audit', 'export', '--data-dir', dataDir, '--out', aFile])).toEqual({
      code: 2,
      stdout: '',
      stderr: `atg: --out must be a directory, and ${aFile} is a file\n`,
    });
    // A directory that holds other files is fine: the export goes beside them.
    const shared = join(workDir, 'shared-evidence');
    await mkdir(shared);
    await writeFile(join(shared, 'README.txt'), 'exports of the audit chain');
    expect(await atgInProcess(['audit', 'export', '--data-dir', dataDir, '--to', '1', '--out', shared])).toMatchObject({
      code: 0,
      stderr: '',
    });
    expect((await readdir(shared)).sort()).toEqual(['README.txt', 'audit-0-1.jsonl', 'manifest.json']);
    // A range past the chain's end is refused as verification refuses it, and nothing is written.
    const nowhere = join(workDir, 'past-the-end-evidence');
    expect(await atgInProcess(['audit', 'export', '--data-dir', dataDir, '--from', '12', '--out', nowhere])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'atg: Nothing to export: from (12) is past the end of the chain (its last entry is 11)\n',
    });
    await expect(readdir(nowhere)).rejects.toMatchObject({ code: 'ENOENT' });
    // Interrupted (Ctrl-C, or SIGTERM here), the export stops and leaves nothing behind; it
    // listens only while it runs.
    let listening = 0;
    const interruptAtOnce: CliIo['onInterrupt'] = (stop) => {
      listening++;
      queueMicrotask(() => stop('SIGTERM'));
      return () => listening--;
    };
    const interruptedOut = join(workDir, 'interrupted-evidence');
    expect(await atgInProcess(['audit', 'export', '--data-dir', dataDir, '--out', interruptedOut], {}, interruptAtOnce)).toEqual({
      code: 143,
      stdout: '',
      stderr: 'atg: interrupted (SIGTERM): the export was stopped, and its unfinished file removed\n',
    });
    expect(listening).toBe(0);
    expect(await readdir(interruptedOut).catch(() => [])).toEqual([]);

    expect(await atg(['audit', 'verify', '--file', out])).toMatchObject({ code: 0, stdout: 'ok: export intact through seq 9\n' });
    const byManifest = await atg(['audit', 'verify', '--file', join(out, 'manifest.json'), '--json']);
    expect(JSON.parse(byManifest.stdout)).toEqual({ ok: true, through: 9 });

    // A key file that holds no Ed25519 public key is refused as such, before anything is read or written.
    const rsaKeyFile = join(workDir, 'rsa.jwk');
    await writeFile(rsaKeyFile, JSON.stringify({ kty: 'RSA', n: 'AQAB', e: 'AQAB' }));
    const notEd25519 = `atg: the public key file ${rsaKeyFile} does not hold a usable Ed25519 public key: Audit keys must be Ed25519 (OKP) keys\n`;
    expect(await atg(['audit', 'verify', '--file', out, '--public-key', rsaKeyFile])).toEqual({ code: 3, stdout: '', stderr: notEd25519 });
    const unwritten = join(workDir, 'rsa-evidence');
    expect(await atg(['audit', 'export', '--data-dir', dataDir, '--out', unwritten, '--public-key', rsaKeyFile])).toEqual({
      code: 3,
      stdout: '',
      stderr: notEd25519,
    });
    await expect(readdir(unwritten)).rejects.toMatchObject({ code: 'ENOENT' });
    const malformedKeyFile = join(workDir, 'malformed.jwk');
    await writeFile(malformedKeyFile, JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: 'abc' }));
    expect((await atgInProcess(['audit', 'verify', '--data-dir', dataDir, '--public-key', malformedKeyFile])).stderr).toBe(
      `atg: the public key file ${malformedKeyFile} does not hold a usable Ed25519 public key: Invalid keyData\n`,
    );

    const jsonlPath = join(out, 'audit-2-9.jsonl');
    const lines = (await readFile(jsonlPath, 'utf8')).trimEnd().split('\n');
    lines.splice(4, 1);
    await writeFile(jsonlPath, `${lines.join('\n')}\n`);
    const damaged = await atg(['audit', 'verify', '--file', out]);
    expect(damaged.code).toBe(1);
    expect(damaged.stdout).toBe('broken: export at seq 6: entries are missing (missing); intact through seq 5\n');

    const missing = await atg(['audit', 'verify', '--file', join(workDir, 'no-such-export')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^atg: export not found: /);
  });

  it('says how far signed checkpoints vouch, and --max-unsigned fails a chain whose checkpoints were deleted', slow, async () => {
    const dataDir = join(workDir, 'signed-reach-db');
    const signing = await generateAuditSigningKey();
    const store = sqlStore({ client: new PGlite(dataDir), closeClient: true });
    const audit = createAuditLog({
      store,
      appendTimeoutMs: 120_000,
      checkpoints: { signingKey: signing.privateJwk, everyEvents: 0, everyMs: 0 },
    });
    for (let index = 0; index < 11; index++) {
      await audit.append({ type: 'admin.agent.created', actor: 'admin:alice', data: { index } });
      if (index === 3 || index === 7) await audit.checkpoint();
    }
    await audit.close(); // signs seq 10
    await store.close();
    const publicKeyFile = join(workDir, 'signed-reach.jwk');
    await writeFile(publicKeyFile, JSON.stringify(signing.publicJwk));
    const verify = (...args: string[]) => atgInProcess(['audit', 'verify', '--data-dir', dataDir, ...args]);
    const withKey = (...args: string[]) => verify('--public-key', publicKeyFile, ...args);

    expect(await withKey()).toEqual({
      code: 0,
      stdout: 'ok: audit chain intact through seq 10; signed checkpoints vouch through seq 10\n',
      stderr: '',
    });
    expect(await withKey('--max-unsigned', '0')).toMatchObject({ code: 0 });
    expect(JSON.parse((await withKey('--json')).stdout)).toEqual({ ok: true, through: 10, signedThrough: 10, unsignedEntries: 0 });
    // Without a key nothing is said of signatures, and --max-unsigned cannot be judged.
    expect(await verify()).toMatchObject({ code: 0, stdout: 'ok: audit chain intact through seq 10\n' });
    expect(await verify('--max-unsigned', '5')).toEqual({
      code: 2,
      stdout: '',
      stderr: 'atg: --max-unsigned needs --public-key: only a checkpoint whose signature was checked vouches for entries\n',
    });

    // One PGlite at a time on a data directory: each change closes it before atg runs.
    const changeDatabase = async (change: (database: PGlite) => Promise<void>) => {
      const database = new PGlite(dataDir);
      try {
        await change(database);
      } finally {
        await database.close();
      }
    };

    // The last checkpoint is gone: the last three entries are signed by nobody.
    await changeDatabase(async (database) => {
      await database.query('DELETE FROM atg.audit_checkpoints WHERE seq = 10');
    });
    expect(await withKey()).toMatchObject({
      code: 0,
      stdout: 'ok: audit chain intact through seq 10; signed checkpoints vouch through seq 7\n',
    });
    expect(await withKey('--max-unsigned', '3')).toMatchObject({ code: 0 });
    expect(await withKey('--max-unsigned', '2')).toEqual({
      code: 1,
      stdout:
        'unsigned: audit chain intact through seq 10, but signed checkpoints vouch only through seq 7: 3 unsigned entries, more than --max-unsigned 2\n',
      stderr: '',
    });
    const json = await withKey('--max-unsigned', '2', '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ ok: true, through: 10, signedThrough: 7, unsignedEntries: 3, maxUnsignedExceeded: true });
    // A range counts from its own start.
    expect(JSON.parse((await withKey('--from', '9', '--json')).stdout)).toEqual({ ok: true, through: 10, unsignedEntries: 2 });

    // The event at seq 3 is edited and every later hash recomputed, the recorded head too:
    // the signed checkpoint at seq 3 catches it...
    await changeDatabase(async (database) => {
      const { rows } = await database.query<{ seq: number; hash: string; event: string }>(
        'SELECT seq, hash, event::text AS event FROM atg.audit_entries WHERE seq >= 2 ORDER BY seq',
      );
      let previousHash = (rows[0] as { hash: string }).hash;
      for (const row of rows.slice(1)) {
        const event = JSON.parse(row.event) as AuditEvent;
        if (Number(row.seq) === 3) event.actor = 'admin:mallory';
        const hash = computeEntryHash(Number(row.seq), previousHash, event);
        await database.query('UPDATE atg.audit_entries SET event = $1::json, prev_hash = $2, hash = $3 WHERE seq = $4', [
          JSON.stringify(event),
          previousHash,
          hash,
          row.seq,
        ]);
        previousHash = hash;
      }
      await database.query('UPDATE atg.audit_head SET hash = $1', [previousHash]);
    });
    expect(await withKey()).toMatchObject({
      code: 1,
      stdout: 'broken: audit chain at seq 3: a signed checkpoint does not match the chain (checkpoint_mismatch); intact through seq 2\n',
    });
    // ...until the checkpoints are deleted too. Nothing is broken then, and the verdict says
    // that no signature vouches for the chain; --max-unsigned turns that into a failure.
    await changeDatabase(async (database) => {
      await database.query('DELETE FROM atg.audit_checkpoints');
    });
    expect(await withKey()).toEqual({
      code: 0,
      stdout: 'ok: audit chain intact through seq 10; no signed checkpoint vouches for any entry\n',
      stderr: '',
    });
    expect(await withKey('--max-unsigned', '5')).toEqual({
      code: 1,
      stdout:
        'unsigned: audit chain intact through seq 10, but no signed checkpoint vouches for any entry: 11 unsigned entries, more than --max-unsigned 5\n',
      stderr: '',
    });
    expect(JSON.parse((await withKey('--json')).stdout)).toEqual({ ok: true, through: 10, unsignedEntries: 11 });

    // An export of it says the same offline.
    const out = join(workDir, 'signed-reach-evidence');
    expect(await atgInProcess(['audit', 'export', '--data-dir', dataDir, '--out', out])).toMatchObject({ code: 0 });
    const verifyExport = (...args: string[]) => atgInProcess(['audit', 'verify', '--file', out, '--public-key', publicKeyFile, ...args]);
    expect(await verifyExport()).toMatchObject({
      code: 0,
      stdout: 'ok: export intact through seq 10; no signed checkpoint vouches for any entry\n',
    });
    expect(await verifyExport('--max-unsigned', '10')).toMatchObject({
      code: 1,
      stdout:
        'unsigned: export intact through seq 10, but no signed checkpoint vouches for any entry: 11 unsigned entries, more than --max-unsigned 10\n',
    });
  });

  it('lists incomplete invocations, marks them outcome_unknown or reopens their approval once (exit 1, then 0)', slow, async () => {
    const dataDir = join(workDir, 'incomplete-db');
    const store = sqlStore({ client: new PGlite(dataDir), closeClient: true });
    const audit = createAuditLog({ store, appendTimeoutMs: 120_000 });
    // A call that started and never finished, and one that did finish.
    await audit.append({
      type: 'invocation.started',
      actor: 'agent:a-1',
      invocationId: 'inv-lost',
      agentId: 'a-1',
      tool: 'payments.transfer',
    });
    await audit.append({ type: 'invocation.started', actor: 'agent:a-1', invocationId: 'inv-done', agentId: 'a-1', tool: 'echo' });
    await audit.append({ type: 'invocation.completed', actor: 'agent:a-1', invocationId: 'inv-done', agentId: 'a-1', tool: 'echo' });
    // An approved call whose run never started: its approval claimed, its record still waiting.
    const now = new Date().toISOString();
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const held = { agentId: 'a-1', tool: 'refunds.create', toolVersion: 'v1', inputDigest: 'd'.repeat(64), input: {}, ruleIds: [] };
    await store.putInvocation({
      ...held,
      id: 'inv-held',
      decision: 'require_approval',
      approvalId: 'apr-held',
      status: 'pending_approval',
      door: 'rest',
      upstreamStatus: null,
      latencyMs: null,
      output: null,
      error: null,
      idempotencyKey: null,
      createdAt: now,
      updatedAt: now,
    });
    await store.createApproval({
      ...held,
      id: 'apr-held',
      invocationId: 'inv-held',
      heldInput: {},
      status: 'executing',
      requestedAt: now,
      expiresAt: later,
      decidedAt: now,
      decidedBy: 'bob',
      reason: null,
    });
    await audit.close();
    await store.close();

    const graced = await atg(['invocations', 'incomplete', '--data-dir', dataDir]);
    expect(graced).toMatchObject({ code: 0, stdout: 'No incomplete invocations.\n' });

    const found = await atg(['invocations', 'incomplete', '--data-dir', dataDir, '--grace-ms', '0']);
    expect(found.code).toBe(1);
    expect(found.stdout).toMatch(/^inv-lost {2}tool payments\.transfer {2}agent a-1 {2}started \S+ {2}\(audit seq 0\)\n/);
    expect(found.stdout).toMatch(
      /\ninv-held {2}tool refunds\.create {2}agent a-1 {2}approved \S+, never started: approval apr-held reopened \(audit seq 4\)\n/,
    );
    expect(found.stdout).toContain(
      '2 incomplete invocations: 1 marked outcome_unknown, 1 approved but never started, their approval reopened.',
    );

    const again = await atg(['invocations', 'incomplete', '--data-dir', dataDir, '--grace-ms', '0', '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ incomplete: [] });

    const reopened = sqlStore({ client: new PGlite(dataDir), closeClient: true });
    expect(await reopened.getInvocation('inv-lost')).toMatchObject({ status: 'outcome_unknown', tool: 'payments.transfer' });
    expect(await reopened.getApproval('apr-held')).toMatchObject({ status: 'pending', decidedBy: null });
    await reopened.close();
  });

  it('reports entries deleted from the start or cut off the end of the chain as missing', slow, async () => {
    const dataDir = join(workDir, 'cut-db');
    const signing = await generateAuditSigningKey();
    const store = sqlStore({ client: new PGlite(dataDir), closeClient: true });
    const audit = createAuditLog({
      store,
      appendTimeoutMs: 120_000,
      checkpoints: { signingKey: signing.privateJwk, everyEvents: 5, everyMs: 0 },
    });
    for (let index = 0; index < 20; index++) await audit.append({ type: 'admin.agent.created', actor: 'admin:alice', data: { index } });
    await audit.close();
    await store.close();
    const publicKeyFile = join(workDir, 'cut-checkpoint.jwk');
    await writeFile(publicKeyFile, JSON.stringify(signing.publicJwk));
    const verify = (...args: string[]) => atgInProcess(['audit', 'verify', '--data-dir', dataDir, '--public-key', publicKeyFile, ...args]);
    expect(await verify()).toMatchObject({
      code: 0,
      stdout: 'ok: audit chain intact through seq 19; signed checkpoints vouch through seq 19\n',
    });

    // The first entries are deleted: the SQL store never trims, so this is not retention.
    const database = new PGlite(dataDir);
    await database.query('DELETE FROM atg.audit_entries WHERE seq < 3');
    await database.close();
    expect(await verify()).toMatchObject({
      code: 1,
      stdout: 'broken: audit chain at seq 0: entries are missing (missing); no entry verified\n',
    });
    // Pruned on purpose: verify from the first entry kept.
    expect(await verify('--from', '3')).toMatchObject({
      code: 0,
      stdout: 'ok: audit chain intact through seq 19; signed checkpoints vouch through seq 19\n',
    });
    // An export holds what is left, says so, and its own verification finds the gap.
    const headless = join(workDir, 'cut-start-evidence');
    const exportedHeadless = await atgInProcess(['audit', 'export', '--data-dir', dataDir, '--out', headless]);
    expect(exportedHeadless.code).toBe(0);
    expect(exportedHeadless.stdout).toContain('Exported 17 audit entries (seq 0 to 19)');
    expect(exportedHeadless.stderr).toMatch(
      /^warning: the store holds 17 of the 20 entries in that range: the audit chain is missing entries/,
    );
    expect(JSON.parse((await atgInProcess(['audit', 'verify', '--file', headless, '--json'])).stdout)).toEqual({
      ok: false,
      through: -1,
      brokenAt: 0,
      reason: 'missing',
    });
    const pruned = join(workDir, 'pruned-evidence');
    expect(await atgInProcess(['audit', 'export', '--data-dir', dataDir, '--from', '3', '--out', pruned])).toMatchObject({
      code: 0,
      stderr: '',
    });
    expect(await atgInProcess(['audit', 'verify', '--file', pruned])).toMatchObject({
      code: 0,
      stdout: 'ok: export intact through seq 19\n',
    });

    // The end is cut off, checkpoints and all: the recorded head still shows it.
    const again = new PGlite(dataDir);
    await again.query('DELETE FROM atg.audit_checkpoints');
    await again.query('DELETE FROM atg.audit_entries WHERE seq >= 12');
    await again.close();
    expect(JSON.parse((await verify('--from', '3', '--json')).stdout)).toEqual({ ok: false, through: 11, brokenAt: 12, reason: 'missing' });
    const tailless = join(workDir, 'cut-end-evidence');
    const exportedTailless = await atgInProcess(['audit', 'export', '--data-dir', dataDir, '--from', '3', '--out', tailless, '--json']);
    expect(JSON.parse(exportedTailless.stdout)).toMatchObject({ file: 'audit-3-19.jsonl', fromSeq: 3, toSeq: 19, count: 9 });
    expect(exportedTailless.stderr).toContain('the store holds 9 of the 17 entries');
    expect(JSON.parse((await atgInProcess(['audit', 'verify', '--file', tailless, '--json'])).stdout)).toEqual({
      ok: false,
      through: 11,
      brokenAt: 12,
      reason: 'missing',
    });
  });

  it("says clearly when the store is not there (exit 3), and migrate writes into no one else's directory (exit 2)", slow, async () => {
    const absent = await atg(['audit', 'verify', '--data-dir', join(workDir, 'absent')]);
    expect(absent).toMatchObject({ code: 3, stdout: '' });
    expect(absent.stderr).toBe(`atg: data directory not found: ${join(workDir, 'absent')}\n`);

    // A directory that holds something else: nothing is written into it.
    const unrelated = join(workDir, 'unrelated');
    await mkdir(unrelated);
    await writeFile(join(unrelated, 'notes.txt'), 'mine');
    const notDatabase = await atg(['audit', 'verify', '--data-dir', unrelated]);
    expect(notDatabase).toMatchObject({ code: 3, stdout: '' });
    expect(notDatabase.stderr).toBe(`atg: not a database directory (no PG_VERSION): ${unrelated}; atg migrate --data-dir creates one\n`);
    expect(await readdir(unrelated)).toEqual(['notes.txt']);

    // migrate neither: a non-empty directory without PG_VERSION is refused (exit 2), as initdb refuses it.
    expect(await atgInProcess(['migrate', '--data-dir', unrelated])).toEqual({
      code: 2,
      stdout: '',
      stderr: `atg: not a database directory (no PG_VERSION) and not empty: ${unrelated}; atg migrate creates a database only in a new or empty directory\n`,
    });
    expect(await readdir(unrelated)).toEqual(['notes.txt']);
    const aFile = join(unrelated, 'notes.txt');
    expect(await atgInProcess(['migrate', '--data-dir', aFile])).toEqual({
      code: 2,
      stdout: '',
      stderr: `atg: not a directory: ${aFile}\n`,
    });
    // An empty directory is where a new database may go.
    const emptyForMigrate = join(workDir, 'empty-for-migrate');
    await mkdir(emptyForMigrate);
    expect(await atgInProcess(['migrate', '--data-dir', emptyForMigrate])).toMatchObject({ code: 0, stderr: '' });
    expect(await readdir(emptyForMigrate)).toContain('PG_VERSION');

    // A database without the schema: verification does not create one.
    const emptyDir = join(workDir, 'empty-db');
    await new PGlite(emptyDir).close();
    const unmigrated = await atg(['invocations', 'incomplete', '--data-dir', emptyDir]);
    expect(unmigrated.code).toBe(3);
    expect(unmigrated.stderr).toMatch(/^atg: .*no agent-tool-gateway schema "atg".*atg migrate/);
    expect(unmigrated.stderr.trim().split('\n')).toHaveLength(1);

    const unreachable = await atg(['migrate', '--database-url', 'postgres://nobody@127.0.0.1:1/none']);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(/^atg: .*ECONNREFUSED/);
    // A password with a "/" that is not percent-encoded: node-postgres cannot parse the URL.
    expect(await atg(['audit', 'verify', '--database-url', 'postgres://atg:s3c/ret@127.0.0.1:1/atg'])).toEqual({
      code: 3,
      stdout: '',
      stderr:
        'atg: the database URL is not a valid URL (not shown: it may hold a password); percent-encode any / ? # in its user name and password\n',
    });
  });
});

describe.skipIf(postgresUrl === undefined)('atg on Postgres (ATG_TEST_POSTGRES_URL)', () => {
  it('migrates a schema from the environment and verifies its chain', slow, async () => {
    const schema = randomSchema('atg_cli');
    const env = { ATG_DATABASE_URL: postgresUrl as string, ATG_SCHEMA: schema };
    try {
      expect((await atg(['migrate'], env)).stdout).toBe(`Schema "${schema}" migrated from version 0 to 2.\n`);
      expect(await atg(['audit', 'verify'], env)).toMatchObject({ code: 0, stdout: 'ok: audit chain holds no entries\n' });
    } finally {
      const pool = new (await import('pg')).default.Pool({ connectionString: postgresUrl, max: 1 });
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    }
  });

  it('prints neither the database URL nor its password, in errors or in --json output, which is valid JSON', slow, async () => {
    const schema = randomSchema('atg_cli');
    const password = 'pw-never-printed-7f3a';
    const url = new URL(postgresUrl as string);
    url.password = password;
    const withPassword = url.toString();
    const noDatabase = new URL(withPassword);
    noDatabase.pathname = `/${randomSchema('atg_no_such_database')}`;
    const out = join(workDir, 'postgres-evidence');
    const run = (args: string[], databaseUrl = withPassword) => atg(args, { ATG_DATABASE_URL: databaseUrl, ATG_SCHEMA: schema });
    try {
      const outcomes = [
        // The schema is not there yet: each command but migrate says so.
        [await run(['audit', 'verify', '--json']), 3],
        [await run(['audit', 'export', '--out', out, '--json']), 3],
        [await run(['invocations', 'incomplete', '--json']), 3],
        [await run(['migrate', '--json'], noDatabase.toString()), 3],
        [await run(['migrate', '--json']), 0],
        [await run(['audit', 'verify', '--json']), 0],
        [await run(['audit', 'export', '--out', out, '--json']), 0],
        [await run(['invocations', 'incomplete', '--json']), 0],
      ] as const;
      for (const [result, code] of outcomes) {
        expect(result.code).toBe(code);
        expect(`${result.stdout}${result.stderr}`).not.toContain(password);
        expect(`${result.stdout}${result.stderr}`).not.toContain(url.host);
        if (code === 0) {
          expect(() => JSON.parse(result.stdout)).not.toThrow();
          expect(result.stderr).toBe('');
        } else {
          expect(result.stdout).toBe('');
          expect(result.stderr).toMatch(/^atg: [^\n]+\n$/);
        }
      }
      expect(outcomes[0][0].stderr).toContain(`no agent-tool-gateway schema "${schema}"`);
    } finally {
      const pool = new (await import('pg')).default.Pool({ connectionString: postgresUrl, max: 1 });
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    }
  });
});
