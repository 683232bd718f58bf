import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/launcher/free-port.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Runs `npm start` as a user would, on a fresh data directory, with nothing configured. */
function npmStart(env: Record<string, string>) {
  const child = spawn('npm', ['start'], { cwd: ROOT, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (b) => (output += b));
  child.stderr!.on('data', (b) => (output += b));
  return { child, output: () => output };
}

async function waitFor(url: string, status: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  let last = '';
  while (Date.now() < until) {
    try {
      const res = await fetch(url);
      if (res.status === status) return;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${url} did not answer ${status} within ${ms} ms (last: ${last})`);
}

/** Ctrl-C: SIGINT to the whole foreground process group. npm itself may die of the signal; our process exits 0. */
async function interrupt(child: ChildProcess): Promise<boolean> {
  const exited = new Promise<boolean>((resolve) => child.once('exit', (code, signal) => resolve(code === 0 || signal === 'SIGINT')));
  process.kill(-child.pid!, 'SIGINT');
  return exited;
}

/** npm may exit before our launcher has finished stopping its children: give the clean-up its time. */
async function settledProcessesMentioning(text: string): Promise<string[]> {
  let left = processesMentioning(text);
  for (let i = 0; i < 60 && left.length; i++) {
    await new Promise((r) => setTimeout(r, 500));
    left = processesMentioning(text);
  }
  return left;
}

function processesMentioning(text: string): string[] {
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(text) && !l.includes('ps -eo'));
}

describe('npm start on embedded defaults', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-start-'));
  fs.chmodSync(dataDir, 0o755);
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('comes up ready with the Temporal UI, keeps data across a restart, recovers from a killed launcher, and leaves nothing running after Ctrl-C', async () => {
    const port = await freePort();
    const uiPort = await freePort();
    // An allowance stays reserved long after its request, so Ctrl-C finds one to give back.
    const env = { DATA_DIR: dataDir, PORT: String(port), TEMPORAL_UI_PORT: String(uiPort), LOG_LEVEL: 'warn', CHAT_ALLOWANCE_IDLE_MS: '600000' };

    const first = npmStart(env);
    try {
      await waitFor(`http://127.0.0.1:${port}/readyz`, 200, 120_000);
    } catch (err) {
      process.kill(-first.child.pid!, 'SIGKILL');
      throw new Error(`${(err as Error).message}\n${first.output()}`);
    }
    await waitFor(`http://127.0.0.1:${uiPort}/`, 200, 30_000);
    const banner = first.output();
    expect(banner).toContain(`http://127.0.0.1:${uiPort}/namespaces/default/workflows`);
    const key = /Demo API key\s+(sk-cheapa-\S+)/.exec(banner)?.[1];
    const adminToken = /Admin token\s+(\S+)/.exec(banner)?.[1];
    expect(key).toBeDefined();
    expect(adminToken).toBe(fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim());
    const balance = await (await fetch(`http://127.0.0.1:${port}/v1/dashboard/billing/credit_grants`, { headers: { authorization: `Bearer ${key}` } })).json();
    expect(balance.total_available).toBe(5);
    const spent = await fetch(`http://127.0.0.1:${port}/admin/accounts/${/account (acct_\w+)/.exec(banner)![1]}/adjustments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ amount_usd: '-1.25', reason: 'restart persistence check' }),
    });
    expect(spent.status).toBe(201);
    const chat = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-5.2', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 8 }),
    });
    expect(chat.status).toBe(200);
    const chatCost = Number(chat.headers.get('x-request-cost-usd'));
    const open = async () => (await (await fetch(`http://127.0.0.1:${port}/admin/allowances`, { headers: { authorization: `Bearer ${adminToken}` } })).json()).data;
    expect(await open()).toHaveLength(1);

    // Ctrl-C reaches the whole process group; the database and Temporal must outlive the launcher's
    // own shutdown, which gives the allowance back before it stops them.
    expect(await interrupt(first.child)).toBe(true);
    expect(await settledProcessesMentioning(dataDir)).toEqual([]);
    // Stopped all the way through its own shutdown, which ends by dropping its record.
    expect(fs.existsSync(path.join(dataDir, 'stack.json'))).toBe(false);

    const second = npmStart(env);
    try {
      await waitFor(`http://127.0.0.1:${port}/readyz`, 200, 120_000);
      expect(second.output()).not.toContain('Demo API key');
      expect(await open()).toEqual([]);
      const after = await (await fetch(`http://127.0.0.1:${port}/v1/dashboard/billing/credit_grants`, { headers: { authorization: `Bearer ${key}` } })).json();
      expect(after.total_available).toBeCloseTo(3.75 - chatCost, 9);
    } catch (err) {
      process.kill(-second.child.pid!, 'SIGKILL');
      throw err;
    }

    // Killed outright, the launcher runs no clean-up: its PostgreSQL and Temporal dev server live on.
    const { launcher } = JSON.parse(fs.readFileSync(path.join(dataDir, 'stack.json'), 'utf8'));
    const npmGone = new Promise((resolve) => second.child.once('exit', resolve));
    process.kill(launcher.pid, 'SIGKILL');
    await npmGone;
    expect(processesMentioning(dataDir).some((line) => line.includes('postgres'))).toBe(true);

    // The next start stops what it left and comes up on the same data.
    const third = npmStart(env);
    try {
      await waitFor(`http://127.0.0.1:${port}/readyz`, 200, 120_000);
      const after = await (await fetch(`http://127.0.0.1:${port}/v1/dashboard/billing/credit_grants`, { headers: { authorization: `Bearer ${key}` } })).json();
      expect(after.total_available).toBeCloseTo(3.75 - chatCost, 9);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${third.output()}`);
    } finally {
      expect(await interrupt(third.child)).toBe(true);
    }
    expect(await settledProcessesMentioning(dataDir)).toEqual([]);
    expect(fs.existsSync(path.join(dataDir, 'stack.json'))).toBe(false);
  }, 400_000);
});
