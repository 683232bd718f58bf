import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');

describe('npm run admin', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ worker: false });
  });
  afterAll(async () => h?.close());

  const admin = (...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'src/cli/admin.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, CHEAPA_URL: h.baseUrl, ADMIN_TOKEN: h.adminToken },
    });

  it('creates an account, issues a key, adjusts the balance and reconciles through the admin API', async () => {
    const account = JSON.parse((await admin('create-account', '--name', 'Grace', '--email', 'grace@example.com')).stdout);
    expect(account.id).toMatch(/^acct_/);
    const key = JSON.parse((await admin('create-key', account.id, '--name', 'cli')).stdout);
    expect(key.key).toMatch(/^sk-cheapa-/);
    const entry = JSON.parse((await admin('adjust', account.id, '--amount', '2.50', '--reason', 'support case 7', '--request-ids', 'req_1,req_2')).stdout);
    expect(entry).toMatchObject({ amount_usd: '2.50', request_ids: ['req_1', 'req_2'] });
    expect((await h.services.ledger.balance(account.id)).balance).toBe(2_500_000_000n);
    expect(JSON.parse((await admin('reconcile')).stdout).ok).toBe(true);
  });

  it('exits non-zero with the API error when the request is refused', async () => {
    const err = await admin('adjust', 'acct_missing', '--amount', '1', '--reason', 'nobody').catch((e) => e);
    expect(err.code).toBe(1);
    expect(JSON.parse(err.stdout).error.code).toBe('not_found');
  });
});
