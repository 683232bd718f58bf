import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The production Temporal server (the binary docker-compose.yml runs as temporalio/server) and its
 * schema tool, built from the Go module proxy into the project's tools folder and cached there.
 * No Docker is needed: the fault suite runs them as plain processes against PostgreSQL.
 */
export const TEMPORAL_SERVER_VERSION = 'v1.32.2';
/** The server needs Go >= 1.26.10; GOTOOLCHAIN fetches this one from the module proxy when the local Go is older. */
const GO_TOOLCHAIN = 'go1.27.3';
const MODULE = 'go.temporal.io/server';

export interface TemporalServerTools {
  server: string;
  sql: string;
  /** The module's source in the Go module cache: schema/postgresql/v12 and config/ live here. */
  moduleDir: string;
}

export function temporalServerDir(toolsDir: string): string {
  return path.join(toolsDir, 'temporal-server', TEMPORAL_SERVER_VERSION);
}

/** Finds the cached binaries, building them with `go install` the first time (minutes on a cold cache). */
export function installTemporalServer(toolsDir: string, log: (line: string) => void = () => {}): TemporalServerTools {
  const binDir = temporalServerDir(toolsDir);
  const server = path.join(binDir, 'server');
  const sql = path.join(binDir, 'sql');
  const env = { ...process.env, GOTOOLCHAIN: GO_TOOLCHAIN, GOBIN: binDir};
  for (const [bin, pkg] of [
    [server, `${MODULE}/cmd/server@${TEMPORAL_SERVER_VERSION}`],
    [sql, `${MODULE}/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`],
  ] as const) {
    if (fs.existsSync(bin)) continue;
    fs.mkdirSync(binDir, { recursive: true });
    log(`building ${pkg} with go install (cached in ${binDir})`);
    const r = spawnSync('go', ['install', pkg], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0 || !fs.existsSync(bin)) throw new Error(`go install ${pkg} failed (exit ${r.status})`);
  }
  return { server, sql, moduleDir: moduleSource(env) };
}

function moduleSource(env: NodeJS.ProcessEnv): string {
  const cache = execFileSync('go', ['env', 'GOMODCACHE'], { env, encoding: 'utf8' }).trim();
  const dir = path.join(cache, `${MODULE}@${TEMPORAL_SERVER_VERSION}`);
  if (!fs.existsSync(path.join(dir, 'schema', 'postgresql', 'v12'))) {
    // The binaries came from elsewhere (a copied tools folder): fetch the module source for its schema and configs.
    execFileSync('go', ['mod', 'download', `${MODULE}@${TEMPORAL_SERVER_VERSION}`], { env, stdio: 'ignore' });
  }
  return dir;
}
