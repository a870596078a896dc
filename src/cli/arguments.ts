import { parseArgs } from 'node:util';
import { schemaNames } from '../store/sql/schema-name.js';

/** A command line that cannot be run as written: exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The commands `atg` knows; `help` and `version` are also `--help` and `--version`. */
export type CommandName = 'migrate' | 'audit verify' | 'audit export' | 'invocations incomplete' | 'keys generate' | 'help' | 'version';

/** The commands that do something besides printing help or the version. */
export type WorkCommandName = Exclude<CommandName, 'help' | 'version'>;

/** Where the store is: Postgres or a PGlite data directory, and the schema. */
export type StoreSelection =
  | { engine: 'postgres'; databaseUrl: string; schema: string | undefined }
  | { engine: 'pglite'; dataDir: string; schema: string | undefined };

/** A parsed command line. */
export interface CommandLine {
  command: CommandName;
  /** The command `help` was asked about, if any. */
  helpTopic?: CommandName;
  store?: StoreSelection;
  from?: number;
  to?: number;
  graceMs?: number;
  publicKeyFile?: string;
  /** `audit verify`: the most entries allowed past the last checkpoint whose signature verified. */
  maxUnsigned?: number;
  file?: string;
  out?: string;
  json: boolean;
}

const optionSpecs = {
  'database-url': { type: 'string' },
  'data-dir': { type: 'string' },
  schema: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  'grace-ms': { type: 'string' },
  'public-key': { type: 'string' },
  'max-unsigned': { type: 'string' },
  file: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

type OptionName = keyof typeof optionSpecs;

const storeOptions: OptionName[] = ['database-url', 'data-dir', 'schema'];

/** The options each command accepts (besides --help). */
const commandOptions: Record<WorkCommandName, OptionName[]> = {
  migrate: [...storeOptions, 'json'],
  'audit verify': [...storeOptions, 'from', 'to', 'public-key', 'max-unsigned', 'file', 'json'],
  'audit export': [...storeOptions, 'from', 'to', 'out', 'public-key', 'json'],
  'invocations incomplete': [...storeOptions, 'grace-ms', 'json'],
  'keys generate': [],
};

const commandNames = Object.keys(commandOptions) as WorkCommandName[];

/** One-line summaries, for the general help. */
const summaries: Record<WorkCommandName, string> = {
  migrate: 'create or upgrade the database schema',
  'audit verify': 'verify the audit hash chain in the database, or an export with --file',
  'audit export': 'write a range of the audit chain and a manifest to a directory',
  'invocations incomplete': 'list calls whose outcome was never recorded, and mark them outcome_unknown',
  'keys generate': 'print a new encryption key (base64, 32 bytes)',
};

const storeHelp = `Store (all commands but keys generate and audit verify --file):
  --database-url <url>   Postgres URL, postgres://… (env ATG_DATABASE_URL)
  --data-dir <dir>       PGlite data directory (env ATG_DATA_DIR)
  --schema <name>        schema of the gateway's tables (env ATG_SCHEMA, default atg)`;

/** The help text of `atg`, or of one command. */
export function usage(topic?: CommandName): string {
  switch (topic) {
    case 'migrate':
      return `Usage: atg migrate [store options] [--json]

Creates the schema, or applies the migrations it lacks. Safe to run from several
places at once: an advisory lock makes the others wait, then find nothing to do.

${storeHelp}`;
    case 'audit verify':
      return `Usage: atg audit verify [store options] [--from N] [--to N] [--public-key file.jwk [--max-unsigned N]] [--json]
       atg audit verify --file <export-dir | manifest.json> [--public-key file.jwk [--max-unsigned N]] [--json]

Recomputes every hash and link of the audit chain (entries --from N to --to N,
inclusive; default all) and checks the signed checkpoints: their signatures with
--public-key (a JWK, an array of JWKs or a JWKS file), else only their hashes.
With --file, checks an export made by \`atg audit export\` offline instead.
Exit code 1 when the chain is broken; the first broken seq and why are printed.

With --public-key, also prints how far checkpoints whose signature verified
vouch for the chain. Checkpoints live in the same database: whoever can rewrite
the chain can delete them, and entries past the last one are signed by nobody.
--max-unsigned N makes more than N such entries fail (exit 1).

${storeHelp}`;
    case 'audit export':
      return `Usage: atg audit export --out <dir> [--from N] [--to N] [--public-key file.jwk] [store options] [--json]

Writes audit-<from>-<to>.jsonl (one entry per line) and manifest.json (range,
count, hashes, checkpoints, file SHA-256) into <dir>, created when missing; a
directory that holds an export already is refused. Check it anywhere with
\`atg audit verify --file <dir>\`. --public-key copies the checkpoint public key
into the manifest for convenience.

${storeHelp}`;
    case 'invocations incomplete':
      return `Usage: atg invocations incomplete [--grace-ms N] [store options] [--json]

Lists calls whose start was recorded but whose outcome never was (the gateway
crashed or was killed mid-call) and marks each outcome_unknown, with an audit
event, so each is reported once. Calls started less than --grace-ms ago
(default 300000, 5 minutes) may still be running and are left alone.
Exit code 1 when any were found; they are marked by then, so keep this
output: the next run finds none and exits 0.

${storeHelp}`;
    case 'keys generate':
      return `Usage: atg keys generate

Prints a new random encryption key (base64 of 32 bytes) for the gateway's
encryptionKey option, e.g. ATG_ENCRYPTION_KEY. Keep it in your secret manager.`;
    default:
      return `Usage: atg <command> [options]

Commands:
${commandNames.map((name) => `  ${name.padEnd(24)}${summaries[name]}`).join('\n')}

Run \`atg <command> --help\` for a command's options, \`atg --version\` for the version.

${storeHelp}

Exit codes: 0 ok, 1 verification failed or problems found, 2 usage error,
3 could not run (database unreachable, schema missing, unreadable file).`;
  }
}

function nonNegativeInteger(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value)) {
    // Echoed only when it looks like a number: a value given to the wrong flag may be a database URL.
    const given = /^[-+\d.eE]{1,20}$/.test(value) ? `, not "${value}"` : '';
    throw new UsageError(`--${name} must be a non-negative integer${given}`);
  }
  return Number(value);
}

function nonEmpty(name: string, value: string | undefined): string | undefined {
  if (value === '') throw new UsageError(`--${name} must not be empty`);
  return value;
}

function findCommand(positionals: string[]): WorkCommandName | 'help' {
  const [first, second] = positionals;
  if (first === undefined || first === 'help') return 'help';
  const command =
    commandNames.find((name) => second !== undefined && name === `${first} ${second}`) ?? commandNames.find((name) => name === first);
  if (command !== undefined) {
    const extra = positionals.length - command.split(' ').length;
    if (extra === 0) return command;
    // Not echoed: a stray argument is often a value whose flag was forgotten (a database URL).
    throw new UsageError(`"atg ${command}" takes no arguments besides options (${extra} more given); run atg --help`);
  }
  const subcommands = commandNames.filter((name) => name.startsWith(`${first} `)).map((name) => name.slice(first.length + 1));
  if (second === undefined && subcommands.length > 0) {
    throw new UsageError(`"atg ${first}" needs a subcommand: ${subcommands.join(' or ')}`);
  }
  throw new UsageError(`unknown command ${commandWords(positionals)}; run atg --help`);
}

/** What help is asked for: a command, or the general help for none or a group of commands (`atg audit --help`). */
function helpTopic(positionals: string[]): WorkCommandName | 'help' {
  const [first, second] = positionals;
  if (first !== undefined && second === undefined && commandNames.some((name) => name.startsWith(`${first} `))) return 'help';
  return findCommand(positionals);
}

/** The words of an unknown command as typed, except any that look like a value (a URL, a path). */
function commandWords(positionals: string[]): string {
  return positionals.map((word) => (/^[a-z][a-z0-9-]{0,31}$/.test(word) ? `"${word}"` : '(a value)')).join(' ');
}

/**
 * Refuses a URL where a data directory belongs (a database URL given to the wrong option):
 * PGlite would take it for a path and create directories named after it. The value is not
 * echoed, only its scheme: it may hold a password.
 */
function dataDirectory(value: string, source: '--data-dir' | 'ATG_DATA_DIR'): string {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1];
  if (scheme === undefined) return value;
  const urlSource = source === '--data-dir' ? '--database-url' : 'ATG_DATABASE_URL';
  throw new UsageError(
    `${source} takes a directory, and the value given looks like a ${scheme.toLowerCase()}:// URL (not shown: it may hold a password); give a database URL with ${urlSource}`,
  );
}

/**
 * Refuses what node-postgres would misread as a database URL: it takes anything but a URL
 * (a `host=… password=…` string, `db.internal/atg` without a scheme) as a path on a host
 * named "base", to fail later with `getaddrinfo ENOTFOUND base`. Postgres URLs and pg's
 * socket forms (`socket:/dir?db=name`, `/dir name`) pass. Not echoed: it may hold a password.
 */
function databaseUrl(value: string, source: '--database-url' | 'ATG_DATABASE_URL'): string {
  if (value.startsWith('/') || /^(?:postgres|postgresql|socket):/i.test(value)) return value;
  throw new UsageError(
    `${source} takes a postgres:// URL, and the value given is not one (not shown: it may hold a password); e.g. postgres://user:password@host:5432/database`,
  );
}

function selectStore(
  values: Partial<Record<OptionName, string | boolean>>,
  env: Record<string, string | undefined>,
): StoreSelection | undefined {
  const databaseUrlFlag = nonEmpty('database-url', values['database-url'] as string | undefined);
  const dataDirFlag = nonEmpty('data-dir', values['data-dir'] as string | undefined);
  if (databaseUrlFlag !== undefined && dataDirFlag !== undefined) {
    throw new UsageError('give --database-url or --data-dir, not both');
  }
  const schema = nonEmpty('schema', values.schema as string | undefined) ?? (env.ATG_SCHEMA || undefined);
  if (schema !== undefined) {
    try {
      schemaNames(schema);
    } catch (error) {
      // The store's own check says what is wrong: the form of the name, or a name Postgres keeps.
      const message = error instanceof Error ? error.message : String(error);
      const reason = message.replace(/^sqlStore: `schema` (?:"[^"]*" )?/, '');
      throw new UsageError(`schema "${schema}" is not valid: ${reason === message ? message : `it ${reason}`}`);
    }
  }
  // A flag beats the environment; between the two variables, Postgres wins.
  if (databaseUrlFlag !== undefined) return { engine: 'postgres', databaseUrl: databaseUrl(databaseUrlFlag, '--database-url'), schema };
  if (dataDirFlag !== undefined) return { engine: 'pglite', dataDir: dataDirectory(dataDirFlag, '--data-dir'), schema };
  if (env.ATG_DATABASE_URL) return { engine: 'postgres', databaseUrl: databaseUrl(env.ATG_DATABASE_URL, 'ATG_DATABASE_URL'), schema };
  if (env.ATG_DATA_DIR) return { engine: 'pglite', dataDir: dataDirectory(env.ATG_DATA_DIR, 'ATG_DATA_DIR'), schema };
  return undefined;
}

/**
 * What `parseArgs` refused, in one line of atg's own words. Its advice for an unknown option
 * (put it after `--`) does not apply: atg takes no arguments besides options. An option is
 * named only when it looks like one: a value run into it (`--url:postgres://…`) may hold a
 * password.
 */
function argumentError(error: unknown): UsageError {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : '';
  const option = /^(?:Unknown option|Option) '(?:-[A-Za-z], )?([^' ]+)/.exec(message)?.[1];
  const name = option !== undefined && /^--?[A-Za-z][A-Za-z0-9-]{0,39}$/.test(option) ? option : undefined;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    return new UsageError(`unknown option ${name ?? '(not shown: it may hold a password)'}; run atg --help`);
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && name !== undefined) {
    if (message.includes('argument missing')) return new UsageError(`${name} needs a value`);
    if (message.includes('does not take an argument')) return new UsageError(`${name} takes no value`);
    if (message.includes('ambiguous')) return new UsageError(`${name} needs a value; give one that starts with "-" as ${name}=<value>`);
  }
  return new UsageError(`${message.split('\n')[0] || 'bad arguments'}; run atg --help`);
}

/**
 * Parses `atg`'s arguments (after the program name). Throws {@link UsageError} for anything
 * it cannot run: unknown commands or options, options another command takes, bad numbers,
 * a missing store.
 */
export function parseCommandLine(argv: string[], env: Record<string, string | undefined>): CommandLine {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof optionSpecs; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: argv, options: optionSpecs, allowPositionals: true, strict: true });
  } catch (error) {
    throw argumentError(error);
  }
  const { values, positionals } = parsed;

  if (positionals[0] === 'help' || values.help === true) {
    const topic = helpTopic(positionals[0] === 'help' ? positionals.slice(1) : positionals);
    return { command: 'help', ...(topic === 'help' ? {} : { helpTopic: topic }), json: false };
  }
  if (values.version === true && positionals.length === 0) return { command: 'version', json: false };
  const command = findCommand(positionals);
  if (command === 'help') {
    // Options with no command (`atg $COMMAND --data-dir …` with COMMAND empty) ran nothing: not a success.
    if (Object.keys(values).length > 0) throw new UsageError('no command given; run atg --help');
    return { command: 'help', json: false };
  }

  const allowed = new Set<OptionName>(commandOptions[command]);
  for (const name of Object.keys(values) as OptionName[]) {
    if (name !== 'help' && !allowed.has(name)) throw new UsageError(`--${name} does not apply to "atg ${command}"`);
  }

  const line: CommandLine = { command, json: values.json === true };
  const from = nonNegativeInteger('from', values.from);
  const to = nonNegativeInteger('to', values.to);
  if (from !== undefined && to !== undefined && from > to) throw new UsageError('--from must not be greater than --to');
  if (from !== undefined) line.from = from;
  if (to !== undefined) line.to = to;
  const graceMs = nonNegativeInteger('grace-ms', values['grace-ms']);
  if (graceMs !== undefined) line.graceMs = graceMs;
  const publicKeyFile = nonEmpty('public-key', values['public-key']);
  if (publicKeyFile !== undefined) line.publicKeyFile = publicKeyFile;
  const maxUnsigned = nonNegativeInteger('max-unsigned', values['max-unsigned']);
  if (maxUnsigned !== undefined) {
    if (publicKeyFile === undefined) {
      throw new UsageError('--max-unsigned needs --public-key: only a checkpoint whose signature was checked vouches for entries');
    }
    line.maxUnsigned = maxUnsigned;
  }
  const out = nonEmpty('out', values.out);
  if (out !== undefined) line.out = out;
  const file = nonEmpty('file', values.file);

  if (command === 'keys generate') return line;
  if (command === 'audit verify' && file !== undefined) {
    // Offline: the export is checked on its own, whatever store the environment names.
    if (values['database-url'] !== undefined || values['data-dir'] !== undefined || values.schema !== undefined) {
      throw new UsageError('--file verifies an export offline: leave out --database-url, --data-dir and --schema');
    }
    if (from !== undefined || to !== undefined) throw new UsageError('--from and --to do not apply to --file: an export is verified whole');
    line.file = file;
    return line;
  }
  if (command === 'audit export' && out === undefined) throw new UsageError('atg audit export needs --out <dir>');
  const store = selectStore(values, env);
  if (store === undefined) {
    throw new UsageError('no store: give --database-url or --data-dir (or set ATG_DATABASE_URL or ATG_DATA_DIR)');
  }
  line.store = store;
  return line;
}
