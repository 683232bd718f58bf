import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** The OpenAPI fuzzer, from PyPI, in a virtual environment of its own under the tools folder. */
export const SCHEMATHESIS_VERSION = '4.32.5';

export function installSchemathesis(toolsDir: string, log: (line: string) => void = () => {}): string {
  const venv = path.join(toolsDir, 'schemathesis', SCHEMATHESIS_VERSION);
  const bin = path.join(venv, 'bin', 'schemathesis');
  if (fs.existsSync(bin)) return bin;
  log(`installing schemathesis==${SCHEMATHESIS_VERSION} into ${venv}`);
  execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
  execFileSync(path.join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', `schemathesis==${SCHEMATHESIS_VERSION}`], { stdio: 'inherit' });
  return bin;
}
