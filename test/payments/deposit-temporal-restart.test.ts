import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/launcher/free-port.js';
import { TOOLS_DIR } from '../../src/launcher/stack.js';
import { resolveTemporalCli } from '../../src/launcher/temporal-cli.js';
import { type RunningTemporal, startTemporalDevServer } from '../../src/launcher/temporal-dev-server.js';
import { startHarness, type Harness } from '../support/harness.js';
import { balanceOf, createDeposit, depositOutcome, getDeposit, stripeSandbox, USD, webhooksFor } from './deposit-fixtures.js';

/**
 * A Temporal server of this file's own (SQLite file, fixed port), so it can be stopped and started
 * again under a deposit without disturbing the other test files.
 */
describe('a deposit across a restart of the Temporal server', () => {
  const logger = pino({ level: 'warn' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-temporal-restart-'));
  let cli: string;
  let port: number;
  let temporal: RunningTemporal;
  let h: Harness;

  const startTemporal = () =>
    startTemporalDevServer({ cli, logger, dbFile: path.join(dir, 'temporal.sqlite'), port, namespaces: ['default'] });

  beforeAll(async () => {
    cli = resolveTemporalCli({ configured: process.env.TEMPORAL_CLI, toolsDir: TOOLS_DIR, logger });
    port = await freePort();
    temporal = await startTemporal();
    h = await startHarness({
      env: { TEMPORAL_ADDRESS: temporal.address, TEMPORAL_NAMESPACE: 'default', DEPOSIT_POLL_INTERVAL: '3600' },
    });
  });
  afterAll(async () => {
    await h?.close();
    await temporal?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers a webhook that arrives while Temporal is down with 503, and credits once when it is redelivered after', async () => {
    const { accountId, key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'starter', method: 'card' });
    const sandbox = stripeSandbox(h);
    sandbox.webhooks.mode = 'hold';
    sandbox.pay((await h.services.payments.deposits.get(dep.id))!.providerRef!, 'card');
    const [completed] = webhooksFor(sandbox.webhooks.list(), (await h.services.payments.deposits.get(dep.id))!.providerRef!);

    await h.stopWorker();
    await temporal.stop();
    // Not acknowledged: the provider keeps the event and delivers it again later.
    const during = await sandbox.webhooks.deliver(completed!.id);
    expect(during.status).toBe(503);
    expect((await getDeposit(h, key, dep.id)).status).toBe('pending');

    temporal = await startTemporal();
    const after = await sandbox.webhooks.deliver(completed!.id);
    expect(after.status).toBe(200);
    await h.startWorker();
    expect((await depositOutcome(h, dep.id)).status).toBe('credited');
    expect(await balanceOf(h, accountId)).toBe(10n * USD);
    await h.expectBooksBalanced();
  }, 120_000);
});
