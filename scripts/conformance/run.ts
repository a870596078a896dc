// `npm run conformance`: starts examples/conformance on a free port and runs the official
// MCP conformance suite against it, for the 2025 era (0.1.x) and for 2026-07-28 (0.2.0
// pre-release). Scenarios of features the gateway does not offer are listed in the
// baselines next to this file; any other failure fails the run.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { startConformanceServer } from '../../examples/conformance/server.js';

const require = createRequire(import.meta.url);
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

function cli(pkg: string): string {
  return require.resolve(`${pkg}/dist/index.js`);
}

function run(label: string, args: string[]): Promise<number> {
  console.log(`\n=== ${label} ===`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', here('./register.mjs'), ...args], { stdio: 'inherit' });
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

const server = await startConformanceServer(0);
let failed = 0;
try {
  const runs: Array<[string, string[]]> = [
    [
      '2025 era (conformance 0.1.x)',
      [cli('conformance-2025'), 'server', '--url', server.url, '--expected-failures', here('./baseline-2025.yml')],
    ],
    [
      '2026-07-28 (conformance 0.2.0 pre-release)',
      [
        cli('conformance-2026'),
        'server',
        '--url',
        server.url,
        '--requirements',
        '2026-07-28',
        '--expected-failures',
        here('./baseline-2026.yml'),
      ],
    ],
  ];
  for (const [label, args] of runs) {
    const code = await run(label, args);
    if (code !== 0) {
      failed++;
      console.error(`${label}: failed (exit ${code})`);
    }
  }
} finally {
  await server.close();
}
process.exit(failed === 0 ? 0 : 1);
