#!/usr/bin/env node
/**
 * The `atg` command: database migrations, audit verification and export, incomplete
 * invocations, encryption keys. See docs/cli.md.
 *
 * @packageDocumentation
 */
import { runCli } from './run.js';

runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
  (code) => {
    process.exitCode = code;
  },
  () => {
    process.stderr.write('atg: unexpected failure\n');
    process.exitCode = 3;
  },
);
