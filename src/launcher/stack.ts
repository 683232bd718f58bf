import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { ResolvedEndpoints } from '../services.js';
import { temporalConnectionOptions } from '../temporal/connection-options.js';
import { ensureSearchAttributes } from '../temporal/namespace.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { isPortFree } from './free-port.js';
import { Orphans, thisLauncher, type StackRecord } from './orphans.js';
import { resolveTemporalCli } from './temporal-cli.js';
import { startTemporalDevServer } from './temporal-dev-server.js';

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const TOOLS_DIR = path.join(PROJECT_ROOT, '.tools');

export interface Stack extends ResolvedEndpoints {
  embedded: { postgres: boolean; temporal: boolean };
  stop(): Promise<void>;
}

/**
 * Brings up whatever the configuration does not point at: embedded PostgreSQL under
 * DATA_DIR/postgres and the Temporal dev server with its SQLite file and Web UI under DATA_DIR.
 */
export async function startStack(config: Config, logger: Logger): Promise<Stack> {
  fs.mkdirSync(config.dataDir, { recursive: true });
  const orphans = new Orphans(path.join(config.dataDir, 'stack.json'), logger);
  await orphans.stop();
  const record: StackRecord = { launcher: thisLauncher(), children: [] };
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((err) => logger.warn({ err }, 'error while stopping'));
    // Only our own record: a role with nothing embedded must not erase the launcher's beside it.
    if (record.children.length) orphans.clear();
  };
  try {
    let databaseUrl = config.database.url;
    if (!databaseUrl) {
      logger.info('starting embedded PostgreSQL');
      const pg = await startEmbeddedPostgres({ dir: path.join(config.dataDir, 'postgres'), logger });
      stops.push(() => pg.stop());
      record.children.push({ name: 'postgres', pid: pg.process.pid, marker: pg.process.dataDir });
      orphans.write(record);
      databaseUrl = pg.socketUrl ?? pg.url;
    }

    let temporalAddress = config.temporal.address;
    let temporalUiUrl: string | undefined;
    if (!temporalAddress) {
      const cli = resolveTemporalCli({ configured: config.temporal.cli, toolsDir: TOOLS_DIR, logger });
      logger.info('starting the Temporal dev server');
      const dbFile = path.join(config.dataDir, 'temporal.sqlite');
      const temporal = await startTemporalDevServer({
        cli,
        logger,
        dbFile,
        port: (await isPortFree(7233)) ? 7233 : undefined,
        uiPort: config.temporal.uiPort,
        namespaces: [config.temporal.namespace],
      });
      stops.push(() => temporal.stop());
      if (temporal.pid) record.children.push({ name: 'temporal', pid: temporal.pid, marker: dbFile });
      orphans.write(record);
      temporalAddress = temporal.address;
      temporalUiUrl = temporal.uiUrl;
    } else {
      await ensureSearchAttributes(temporalConnectionOptions(temporalAddress, config.temporal), config.temporal.namespace, logger);
    }

    return {
      databaseUrl,
      temporalAddress,
      temporalUiUrl,
      adminToken: config.adminToken ?? persistentSecret(path.join(config.dataDir, 'admin-token')),
      embedded: { postgres: !config.database.url, temporal: !config.temporal.address },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A generated secret kept under DATA_DIR (mode 0600) so it survives restarts. */
export function persistentSecret(file: string): string {
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  const secret = 'cheapa-admin-' + randomBytes(24).toString('base64url');
  fs.writeFileSync(file, secret + '\n', { mode: 0o600 });
  return secret;
}
