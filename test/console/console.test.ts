import fs from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatUsd, parseUsd } from '../../src/ledger/money.js';
import { startHarness, type Harness } from '../support/harness.js';

/** The Chromium that .ci/run installs from Debian's packages (CHROMIUM_PATH overrides). */
const CHROMIUM = process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));

describe('console in headless Chromium', () => {
  let h: Harness;
  let browser: Browser;
  beforeAll(async () => {
    if (!CHROMIUM) throw new Error('Chromium not found: install Debian\'s chromium package (.ci/run does) or set CHROMIUM_PATH');
    h = await startHarness();
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('shows the live balance and per-request cost, and a card top-up paid on the checkout page raises the balance', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const chat = await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages: [{ role: 'user', content: 'Hello from the console test' }], max_tokens: 20 });
    const cost = (chat.usage as unknown as { cost: number }).cost;
    expect(cost).toBeGreaterThan(0);

    const page = await browser.newPage();
    await page.goto(h.baseUrl + '/');
    await page.type('#key', key);
    await page.click('#keyform button[type=submit]');
    await page.waitForFunction(() => document.getElementById('available')!.textContent !== '–');
    const balance = await (await h.call('GET', '/v1/dashboard/billing/credit_grants', { key })).json();
    expect(await page.$eval('#available', (e) => e.textContent)).toBe(`$${balance.total_available}`);
    await page.waitForFunction(() => document.getElementById('requests')!.textContent!.includes('gpt-5.2'));
    const requestsText = await page.$eval('#requests', (e) => e.textContent);
    expect(requestsText).toContain('gpt-5.2');
    expect(await page.$eval('#models', (e) => e.textContent)).toContain('gpt-5.2');

    // Top up $10 by card: the console opens the (sandbox) Stripe checkout page in a new tab.
    const opened = new Promise<import('puppeteer-core').Page>((resolve) =>
      browser.once('targetcreated', async (t) => resolve((await t.page())!)),
    );
    await page.select('#tier', 'starter');
    await page.select('#method', 'card');
    await page.click('#topup button[type=submit]');
    const checkout = await opened;
    await checkout.waitForSelector('button[value=card]');
    await Promise.all([checkout.waitForNavigation(), checkout.click('button[value=card]')]);

    // The webhook reaches the DepositWorkflow, which credits the ledger; the console refreshes on its own.
    const expected = `$${formatUsd(parseUsd(String(balance.total_available)) + parseUsd('10'))}`;
    // The console tab is in the background now: poll on a timer (animation frames do not run there).
    await page.waitForFunction((v: string) => document.getElementById('available')!.textContent === v, { timeout: 30_000, polling: 250 }, expected);
    expect(await page.$eval('#deposits', (e) => e.textContent)).toContain('credited');
    await h.expectBooksBalanced();
  });

  it('shows the API error for a wrong key and no account data', async () => {
    const page = await browser.newPage();
    await page.goto(h.baseUrl + '/');
    await page.type('#key', 'sk-cheapa-' + 'x'.repeat(43));
    await page.click('#keyform button[type=submit]');
    await page.waitForFunction(() => document.getElementById('balance-error')!.textContent!.includes('Incorrect API key'));
    expect(await page.$eval('#app', (e) => (e as HTMLElement).hidden)).toBe(true);
  });
});
