/**
 * Every recorded history under histories/ (`<workflow>-<case>.json`, recorded by
 * `npm run record:histories` on the code of its day) replays against today's workflow code. A
 * change that alters the command sequence of a running workflow without `patched()` fails here
 * with a nondeterminism error instead of failing deposits that wait up to a day across a deploy.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowBundle } from '../../src/temporal/worker.js';
import { historyFromCliJson } from '../support/history-json.js';

const DIR = fileURLToPath(new URL('./histories/', import.meta.url));
const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

describe('recorded workflow histories replay on the current workflow code', () => {
  it('has a history of every workflow', () => {
    for (const workflow of ['deposit', 'hold-reconciler', 'ledger-audit', 'chat-capture', 'payment-reversal', 'balance-alert', 'auto-topup']) {
      expect(files.some((f) => f.startsWith(`${workflow}-`)), workflow).toBe(true);
    }
  });

  it.each(files)('%s', async (file) => {
    const history = historyFromCliJson(JSON.parse(fs.readFileSync(DIR + file, 'utf8')));
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, file.replace(/\.json$/, ''));
  });
});
