import { generateEncryptionKey } from '../../secrets/index.js';
import { type CliIo, ExitCode, writeLine } from '../io.js';

/** `atg keys generate`: prints a new encryption key and nothing else, so `$(atg keys generate)` works. */
export async function keysGenerateCommand(_line: unknown, io: CliIo): Promise<number> {
  writeLine(io.stdout, generateEncryptionKey());
  return ExitCode.ok;
}
