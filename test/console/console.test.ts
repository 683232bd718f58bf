import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatUsd, parseUsd } from '../../src/ledger/money.js';
import { startHarness, type Harness } from '../support/harness.js';
import { launchChromium } from './chromium.js';

describe('console in headless Chromium', () => {
  let h: Harness;
  let browser: Browser;
  beforeAll(async () => {
    h = await startHarness();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  /** An account with credit, a key for the API, and a console invitation link for its person. */
  async function invitedAccount(balanceUsd: string) {
    const { accountId, key } = await h.createAccount({ balanceUsd });
    const email = `console-${accountId}@example.com`;
    const invitation = await (await h.admin('POST', `/admin/accounts/${accountId}/console-invitations`, { email })).json();
    return { accountId, key, email, link: invitation.url as string };
  }

  it('signs in by invitation, shows the balance live as a chat request is billed, and a card top-up paid on the checkout page raises it', async () => {
    const { accountId, key, link } = await invitedAccount('1.00');
    const page = await browser.newPage();
    await page.goto(link);
    await page.waitForSelector('#link-password', { visible: true });
    await page.type('#link-password', 'correct horse battery');
    await page.click('#link-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('available')!.textContent === '$1.00');
    // Nothing the page can read holds a secret: the session cookie is httpOnly, and no key was ever typed.
    expect(await page.evaluate(() => document.cookie)).toBe('');
    expect(await page.evaluate(() => JSON.stringify(localStorage))).toBe('{}');

    // Billed through the API while the page is open: the balance moves without a reload or a poll.
    const chat = await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages: [{ role: 'user', content: 'Hello from the console test' }], max_tokens: 20 });
    const cost = (chat.usage as unknown as { cost: number }).cost;
    expect(cost).toBeGreaterThan(0);
    // Once the API process gives back what it held for the request (an idle account's allowance).
    await h.idleBalance(accountId);
    const balance = await (await h.call('GET', '/v1/dashboard/billing/credit_grants', { key })).json();
    expect(balance.total_available).toBeLessThan(1);
    await page.waitForFunction((v: string) => document.getElementById('available')!.textContent === v, { timeout: 10_000 }, `$${formatUsd(parseUsd(String(balance.total_available)))}`);
    await page.waitForFunction(() => document.getElementById('requests')!.textContent!.includes('gpt-5.2'));
    expect(await page.$eval('#models', (e) => e.textContent)).toContain('gpt-5.2');

    // Top up $10 by card: the console opens the (sandbox) Stripe checkout page in a new tab.
    const opened = new Promise<import('puppeteer-core').Page>((resolve) =>
      browser.once('targetcreated', async (t) => resolve((await t.page())!)),
    );
    // Top-ups live on the Billing page (where the 402 message sends people).
    await page.click('#tabs a[data-page=billing]');
    await page.waitForSelector('#topup', { visible: true });
    expect(page.url()).toMatch(/#\/billing$/);
    await page.select('#tier', 'starter');
    await page.select('#method', 'card');
    await page.click('#topup button[type=submit]');
    const checkout = await opened;
    await checkout.waitForSelector('button[value=card]');
    await Promise.all([checkout.waitForNavigation(), checkout.click('button[value=card]')]);

    // The webhook reaches the deposit workflow, which credits the ledger; the stream tells the page.
    const expected = `$${formatUsd(parseUsd(String(balance.total_available)) + parseUsd('10'))}`;
    // The console tab is in the background now: poll on a timer (animation frames do not run there).
    await page.waitForFunction((v: string) => document.getElementById('available')!.textContent === v, { timeout: 30_000, polling: 250 }, expected);
    await page.waitForFunction(() => document.getElementById('deposits')!.textContent!.includes('credited'), { timeout: 10_000, polling: 250 });
    await h.expectBooksBalanced();
  });

  /** A signed-in console page for a new account (a fresh browser context: no other test's cookie). */
  async function signedIn(balanceUsd: string) {
    const account = await invitedAccount(balanceUsd);
    const page = await (await browser.createBrowserContext()).newPage();
    await page.goto(account.link);
    await page.waitForSelector('#link-password', { visible: true });
    await page.type('#link-password', 'correct horse battery');
    await page.click('#link-form button[type=submit]');
    await page.waitForFunction((v: string) => document.getElementById('available')!.textContent === v, {}, `$${balanceUsd}`);
    return { ...account, page };
  }

  it('creates a key with its limits (secret shown once, copy button), shows its spend, and revokes it', async () => {
    const { page, key } = await signedIn('2.00');
    page.on('dialog', (d) => void d.accept());
    await page.click('#tabs a[data-page=keys]');
    await page.waitForSelector('#key-create', { visible: true });
    await page.type('#key-name', 'build server');
    await page.type('#key-limit', '1.50');
    await page.select('#key-reset', 'monthly');
    await page.type('#key-models', 'gpt-5.2');
    await page.type('#key-rpm', '30');
    await page.click('#key-create button[type=submit]');
    await page.waitForSelector('#key-secret', { visible: true });
    const secret = (await page.$eval('#key-secret-value', (e) => e.textContent))!;
    expect(secret.length).toBeGreaterThan(20);
    await page.click('#key-copy');
    await page.waitForFunction(() => document.getElementById('key-copied')!.textContent !== '');
    await page.waitForFunction(() => document.getElementById('keys')!.textContent!.includes('build server'));
    const row = await page.$eval('#keys', (e) => [...e.querySelectorAll('tr')].find((r) => r.textContent!.includes('build server'))!.textContent);
    expect(row).toContain('$1.50 monthly');
    expect(row).toContain('gpt-5.2');
    // The secret is nowhere else on the page, and the new key works on the API with its limits.
    expect(await page.$eval('#keys', (e) => e.textContent)).not.toContain(secret);
    const created = await h.openai(secret).chat.completions.create({ model: 'gpt-5.2', messages: [{ role: 'user', content: 'from the new key' }], max_tokens: 10 });
    expect(created.choices.length).toBe(1);
    const denied = await h.call('POST', '/v1/chat/completions', { key: secret, body: { model: 'gpt-5-mini', messages: [{ role: 'user', content: 'x' }] } });
    expect(denied.status).toBe(403);
    // Its spend shows once the ledger moves (the page follows the balance stream).
    const spent = (created.usage as unknown as { cost: number }).cost;
    await page.waitForFunction(
      (v: string) => [...document.querySelectorAll('#keys tr')].some((r) => r.textContent!.includes('build server') && r.textContent!.includes(v)),
      { timeout: 10_000 },
      formatUsd(parseUsd(String(spent))),
    );

    const id = await page.$eval('#keys', (e) => [...e.querySelectorAll('tr')].find((r) => r.textContent!.includes('build server'))!.getAttribute('data-key'));
    await page.click(`button[data-revoke="${id}"]`);
    await page.waitForFunction(() => !document.getElementById('keys')!.textContent!.includes('build server'));
    expect((await h.call('GET', '/v1/dashboard/billing/credit_grants', { key: secret })).status).toBe(401);
    expect((await h.call('GET', '/v1/dashboard/billing/credit_grants', { key })).status).toBe(200);
    await h.expectBooksBalanced();
  });

  it('sets a low-balance alert (secret shown once), saves a card on a top-up paid in the checkout, shows it and the receipt, and turns auto top-up on and off', async () => {
    const { page, key } = await signedIn('1.00');
    page.on('dialog', (d) => void d.accept());
    await page.click('#tabs a[data-page=billing]');
    await page.waitForSelector('#alert', { visible: true });
    await page.waitForFunction(() => document.getElementById('alert-status')!.textContent!.includes('No alert'));
    // Auto top-up charges a saved card: without one it is not offered.
    await page.waitForFunction(() => document.getElementById('autotopup-status')!.textContent === 'Needs a saved card.');
    expect(await page.$eval('#autotopup', (e) => (e as HTMLElement).hidden)).toBe(true);

    // The API's refusal is shown to the person, and nothing is set.
    await page.type('#alert-threshold', 'lots');
    await page.type('#alert-url', 'http://127.0.0.1:9/cheapa-alert');
    // Submitted with Enter, as a person does, rather than by a click at coordinates: the page above the form
    // re-renders while the balance stream settles, and a click computed before a re-render can miss the button.
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('alert-error')!.textContent !== '');
    expect(await (await h.call('GET', '/v1/billing/alerts', { key })).json()).toMatchObject({ enabled: false });

    await page.$eval('#alert-threshold', (e) => ((e as HTMLInputElement).value = ''));
    await page.type('#alert-threshold', '0.50');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#alert-secret', { visible: true });
    const secret = (await page.$eval('#alert-secret-value', (e) => e.textContent))!;
    expect(secret).toMatch(/^whsec_/);
    expect(await page.$eval('#alert-secret', (e) => e.textContent)).toContain('shown once');
    expect(await page.$eval('#alert-error', (e) => e.textContent)).toBe('');
    await page.click('#alert-copy');
    await page.waitForFunction(() => document.getElementById('alert-copied')!.textContent !== '');
    expect(await (await h.call('GET', '/v1/billing/alerts', { key })).json()).toMatchObject({ enabled: true, threshold_usd: '0.50', webhook_url: 'http://127.0.0.1:9/cheapa-alert' });
    // Shown once: a fresh load of the page shows the alert, never its secret.
    await page.reload();
    await page.waitForFunction(() => document.getElementById('alert-status')!.textContent!.includes('$0.50'));
    expect(await page.$eval('#alert-secret', (e) => (e as HTMLElement).hidden)).toBe(true);
    expect(await page.content()).not.toContain(secret);

    // A $10 card top-up that saves the card, paid on the sandbox checkout page.
    const opened = new Promise<import('puppeteer-core').Page>((resolve) =>
      page.browserContext().once('targetcreated', async (t) => resolve((await t.page())!)),
    );
    await page.select('#tier', 'starter');
    await page.select('#method', 'card');
    await page.click('#save-card');
    await page.click('#topup button[type=submit]');
    const checkout = await opened;
    await checkout.waitForSelector('button[value=card]');
    await Promise.all([checkout.waitForNavigation(), checkout.click('button[value=card]')]);
    await checkout.close();

    // The credit, then its receipt and the saved card, show without a reload.
    await page.waitForFunction(() => document.getElementById('available')!.textContent === '$11.00', { timeout: 30_000, polling: 250 });
    await page.waitForSelector('#deposits a[aria-label^="Receipt for"]', { timeout: 15_000 });
    const receipt = await page.$eval('#deposits a[aria-label^="Receipt for"]', (a) => (a as HTMLAnchorElement).href);
    expect(receipt).toMatch(/\/sandbox\/stripe\/receipts\/ch_/);
    expect(await (await fetch(receipt)).text()).toContain('10.00 USD paid');
    await page.waitForFunction(() => document.getElementById('card-summary')!.textContent!.includes('4242'), { timeout: 15_000, polling: 250 });
    expect(await page.$eval('#card-summary', (e) => e.textContent)).toContain('visa');

    // Auto top-up is offered now: on, then off.
    await page.waitForSelector('#autotopup', { visible: true });
    await page.type('#autotopup-threshold', '2.00');
    await page.select('#autotopup-tier', 'standard');
    await page.click('#autotopup button[type=submit]');
    await page.waitForFunction(() => document.getElementById('autotopup-status')!.textContent!.startsWith('On'));
    expect(await page.$eval('#autotopup-error', (e) => e.textContent)).toBe('');
    expect(await (await h.call('GET', '/v1/billing/auto-topup', { key })).json()).toMatchObject({ enabled: true, threshold_usd: '2.00', tier: 'standard' });
    await page.click('#autotopup-off');
    await page.waitForFunction(() => document.getElementById('autotopup-status')!.textContent === 'Off.');
    expect(await (await h.call('GET', '/v1/billing/auto-topup', { key })).json()).toMatchObject({ enabled: false });

    // Forgetting the card takes auto top-up away with it.
    await page.click('#card-forget');
    await page.waitForFunction(() => document.getElementById('autotopup-status')!.textContent === 'Needs a saved card.');
    expect(await (await h.call('GET', '/v1/billing/payment-method', { key })).json()).toMatchObject({ saved: false });
    await h.expectBooksBalanced();
  });

  it('shows usage over a date range with a chart, filters by key and model, pages the requests, and exports the selection as CSV', async () => {
    const { page, key, accountId } = await signedIn('5.00');
    const second = await (await h.admin('POST', `/admin/accounts/${accountId}/keys`, { name: 'batch jobs' })).json();
    const ask = (k: string, model: string) => h.openai(k).chat.completions.create({ model, messages: [{ role: 'user', content: 'usage page' }], max_tokens: 5 });
    for (let i = 0; i < 21; i++) await ask(key, 'gpt-5.2');
    await ask(second.key, 'gpt-5-mini');

    await page.click('#tabs a[data-page=usage]');
    await page.waitForFunction(() => document.querySelectorAll('#usage-requests tr').length === 20);
    // The chart has a bar per day of the last 30, and today's is the only one with spend.
    await page.waitForFunction(() => document.querySelectorAll('#usage-chart rect.bar').length === 30);
    await page.waitForFunction(() => document.getElementById('usage-total')!.textContent!.includes('22 requests'));
    expect(await page.$$eval('#usage-chart rect.bar', (bars) => bars.filter((b) => Number(b.getAttribute('height')) > 0).length)).toBe(1);
    const models = await page.$eval('#usage-models', (e) => e.textContent);
    expect(models).toContain('gpt-5.2');
    expect(models).toContain('gpt-5-mini');

    // Pages: the 20 newest, then the 2 oldest, and back.
    const firstPage = await page.$eval('#usage-requests', (e) => e.textContent);
    await page.click('#usage-next');
    await page.waitForFunction(() => document.querySelectorAll('#usage-requests tr').length === 2);
    expect(await page.$eval('#usage-next', (b) => (b as HTMLButtonElement).disabled)).toBe(true);
    await page.click('#usage-prev');
    await page.waitForFunction((t: string) => document.getElementById('usage-requests')!.textContent === t, {}, firstPage);

    // Filter by the second key: one request, its model, and a CSV of just that.
    await page.waitForFunction((id: string) => [...document.querySelectorAll('#usage-key option')].some((o) => (o as HTMLOptionElement).value === id), {}, second.id);
    await page.select('#usage-key', second.id);
    await page.click('#usage-filters button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('#usage-requests tr').length === 1 && document.getElementById('usage-requests')!.textContent!.includes('gpt-5-mini'));
    await page.waitForFunction(() => document.getElementById('usage-total')!.textContent!.includes('1 requests'));
    expect(await page.$eval('#usage-requests', (e) => e.textContent)).toContain('batch jobs');
    const href = await page.$eval('#usage-csv', (a) => (a as HTMLAnchorElement).href);
    expect(href).toContain(`api_key_id=${second.id}`);
    // The link downloads with the session cookie alone (no key in the page).
    const csv = await page.evaluate(async (u: string) => (await fetch(u)).text(), href);
    const lines = csv.trim().split(/\r?\n/);
    expect(lines[0]).toMatch(/^id,created_at,api_key_id/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(second.id);

    // And by model, with every key: the 21 gpt-5.2 requests, two pages.
    await page.select('#usage-key', '');
    await page.select('#usage-model', 'gpt-5.2');
    await page.click('#usage-filters button[type=submit]');
    await page.waitForFunction(() => document.getElementById('usage-total')!.textContent!.includes('21 requests'));
    expect(await page.$eval('#usage-next', (b) => (b as HTMLButtonElement).disabled)).toBe(false);
    expect(await page.$eval('#usage-models', (e) => e.textContent)).not.toContain('gpt-5-mini');

    // A range that ends before it starts is said so, not sent.
    await page.$eval('#usage-from', (e) => ((e as HTMLInputElement).value = '2026-12-31'));
    await page.$eval('#usage-to', (e) => ((e as HTMLInputElement).value = '2026-01-01'));
    await page.click('#usage-filters button[type=submit]');
    await page.waitForFunction(() => document.getElementById('usage-error')!.textContent!.includes('start date'));
    await h.expectBooksBalanced();
  });

  it('gives a quickstart with this service\'s base URLs for the OpenAI and Anthropic SDKs, and the price list', async () => {
    const { page } = await signedIn('1.00');
    await page.click('#tabs a[data-page=quickstart]');
    await page.waitForFunction(() => document.getElementById('prices')!.textContent!.includes('gpt-5.2'));
    expect(await page.$eval('#qs-openai-py', (e) => e.textContent)).toContain(`base_url="${h.baseUrl}/v1"`);
    expect(await page.$eval('#qs-openai-js', (e) => e.textContent)).toContain(`baseURL: '${h.baseUrl}/v1'`);
    // Anthropic's SDKs add /v1/messages themselves: the root, not /v1.
    expect(await page.$eval('#qs-anthropic-py', (e) => e.textContent)).toContain(`base_url="${h.baseUrl}"`);
    const catalog = await (await h.call('GET', '/v1/models', { key: (await h.createAccount()).key })).json();
    const gpt = catalog.data.find((m: any) => m.id === 'gpt-5.2');
    const row = await page.$eval('#prices', (e) => [...e.querySelectorAll('tr')].find((r) => r.cells[0]!.textContent === 'gpt-5.2')!.textContent);
    expect(row).toContain(`$${gpt.pricing.input_usd_per_million_tokens}`);
    expect(row).toContain(`$${gpt.pricing.output_usd_per_million_tokens}`);
    // Nothing here holds a real key.
    expect(await page.$eval('main', (e) => e.textContent)).toContain('YOUR_API_KEY');
  });

  it('shows the sign-in error for a wrong password and no account data', async () => {
    const { email, link } = await invitedAccount('3.00');
    await fetch(`${h.baseUrl}/console/api/links/redeem`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: link.split('#/link/')[1], password: 'correct horse battery' }),
    });
    // A browser of its own: no session cookie left by another test.
    const page = await (await browser.createBrowserContext()).newPage();
    await page.goto(h.baseUrl + '/');
    await page.waitForSelector('#email', { visible: true });
    await page.type('#email', email);
    await page.type('#password', 'not my password');
    await page.click('#signin-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('signin-error')!.textContent!.includes('incorrect'));
    expect(await page.$eval('#app', (e) => (e as HTMLElement).hidden)).toBe(true);
    // Hidden for real, not just flagged: neither the customer nor the ops view is on screen.
    expect(await page.$eval('#app', (e) => getComputedStyle(e).display)).toBe('none');
    expect(await page.$eval('#ops', (e) => getComputedStyle(e).display)).toBe('none');
    expect(await page.$eval('#available', (e) => e.textContent)).toBe('–');
  });

  it('fits a phone screen: nothing overflows the page at 390 px, wide tables scroll inside their cards', async () => {
    const { link } = await invitedAccount('2.00');
    const page = await (await browser.createBrowserContext()).newPage();
    await page.setViewport({ width: 390, height: 844, isMobile: true });
    await page.goto(link);
    await page.waitForSelector('#link-password', { visible: true });
    await page.type('#link-password', 'correct horse battery');
    await page.click('#link-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('available')!.textContent === '$2.00');
    for (const tab of ['overview', 'billing', 'usage', 'generations', 'keys', 'quickstart']) {
      await page.click(`#tabs a[data-page=${tab}]`);
      await page.waitForSelector(`#app section[data-page=${tab}]`, { visible: true });
      const offenders = await page.evaluate(() =>
        [...document.querySelectorAll('body *')]
          .filter((e) => e.getBoundingClientRect().right > 390 && !e.closest('.scroll') && !e.closest('.tabs'))
          .map((e) => `${e.tagName}#${e.id}.${e.className}: ${Math.round(e.getBoundingClientRect().right)}`),
      );
      expect(offenders, tab).toEqual([]);
      expect(await page.evaluate(() => document.documentElement.scrollWidth), tab).toBeLessThanOrEqual(390);
    }
    expect(await page.$$eval('table', (ts) => ts.every((t) => t.parentElement!.classList.contains('scroll')))).toBe(true);
  });

  it('gives an operator the ops view: finds an account, posts an adjustment with its reason, runs the audit, lists open holds, and links deposits to their workflows', async () => {
    const { accountId, key } = await invitedAccount('1.00');
    const deposit = await (await h.call('POST', '/v1/billing/deposits', { key, body: { tier: 'starter', method: 'card' } })).json();
    const hold = await h.services.ledger.placeHold({
      accountId,
      amount: 250_000_000n,
      purpose: 'chat',
      requestId: `req_ops_${accountId}`,
      idempotencyKey: `ops-view-${accountId}`,
      expiresAt: new Date(Date.now() + 600_000),
    });
    // And what this API process holds on the account for its chat requests (an allowance).
    const leaseId = await h.services.holdLease.id();
    await h.services.ledger.reserveAllowance({ accountId, leaseId, amount: 50_000_000n });
    const op = await (await h.admin('POST', '/admin/console/operators', { email: `ops-${accountId}@example.com` })).json();
    const page = await (await browser.createBrowserContext()).newPage();
    await page.goto(op.url);
    await page.waitForSelector('#link-password', { visible: true });
    await page.type('#link-password', 'correct horse battery');
    await page.click('#link-form button[type=submit]');
    await page.waitForSelector('#ops-q', { visible: true });
    expect(await page.$eval('#app', (e) => (e as HTMLElement).hidden)).toBe(true);

    await page.type('#ops-q', accountId);
    await page.click('#ops-search button[type=submit]');
    await page.waitForSelector(`#ops-accounts a[data-account="${accountId}"]`);
    // Found and clicked in one step in the page: the list that opened with the view and the holds
    // list render the same link, and a re-render between finding and clicking would detach it.
    await page.evaluate((id) => (document.querySelector(`#ops-accounts a[data-account="${id}"]`) as HTMLElement).click(), accountId);
    await page.waitForFunction(() => document.getElementById('ops-available')!.textContent === '$0.70');
    expect(await page.$eval('#ops-held', (e) => e.textContent)).toBe('$0.30');
    // The open holds, across accounts and of this account: who placed each, how old, how much.
    for (const table of ['ops-holds', 'ops-account-holds']) {
      await page.waitForFunction((t: string, id: string) => document.getElementById(t)!.textContent!.includes(id), {}, table, hold.value.id);
      const row = await page.$eval(`#${table}`, (e, id) => [...e.querySelectorAll('tr')].find((r) => r.textContent!.includes(id as string))!.textContent, hold.value.id);
      expect(row).toContain(accountId);
      expect(row).toContain(`req_ops_${accountId}`);
      expect(row).toContain('$0.25');
      expect(row).toMatch(/\d+ s|\d+ min/);
    }
    for (const table of ['ops-allowances', 'ops-account-allowances']) {
      await page.waitForFunction((t: string, id: string) => document.getElementById(t)!.textContent!.includes(id), {}, table, leaseId);
      const row = await page.$eval(`#${table}`, (e, id) => [...e.querySelectorAll('tr')].find((r) => r.textContent!.includes(id as string))!.textContent, leaseId);
      expect(row).toContain('$0.05');
      expect(row).toContain(`pid ${process.pid}`);
      if (table === 'ops-allowances') expect(row).toContain(accountId);
    }
    // Each deposit of the account, with its workflow.
    await page.waitForFunction((id: string) => document.getElementById('ops-account-deposits')!.textContent!.includes(id), {}, deposit.id);
    expect(await page.$eval('#ops-account-deposits', (e) => e.textContent)).toContain(`deposit-${deposit.id}`);
    expect(await page.$eval('#ops-owed', (e) => e.textContent)).toBe('$0.00');
    expect(await page.$eval('#ops-suspension', (e) => e.textContent)).toBe('');
    await page.waitForFunction(() => document.getElementById('ops-disputes')!.textContent !== '');

    await page.type('#ops-amount', '2.50');
    await page.type('#ops-reason', 'goodwill credit, support request 42');
    await page.click('#ops-adjust button[type=submit]');
    await page.waitForFunction(() => document.getElementById('ops-available')!.textContent === '$3.20');
    const entry = await h.services.db('ledger_entries').where({ account_id: accountId, kind: 'adjustment' }).orderBy('id', 'desc').first();
    expect(entry.reason).toBe('goodwill credit, support request 42');
    expect(entry.amount).toBe(2_500_000_000n);

    await page.click('#ops-reconcile');
    await page.waitForFunction(() => document.getElementById('ops-reconcile-report')!.textContent!.startsWith('All invariants hold.'));

    await page.type('#ops-deposit-id', deposit.id);
    await page.click('#ops-deposit button[type=submit]');
    await page.waitForFunction((id: string) => document.getElementById('ops-deposit-detail')!.textContent!.includes(id), {}, deposit.id);
    const detail = await page.$eval('#ops-deposit-detail', (e) => e.textContent);
    expect(detail).toContain('workflow');

    await h.services.ledger.releaseHold({ holdId: hold.value.id, accountId });
    await h.services.ledger.releaseAllowance(accountId, leaseId);
    await page.click('#ops-holds-refresh');
    await page.waitForFunction((id: string) => !document.getElementById('ops-holds')!.textContent!.includes(id), {}, hold.value.id);
    await page.waitForFunction((id: string) => !document.getElementById('ops-allowances')!.textContent!.includes(id), {}, leaseId);

    // On a phone the ops view's wide tables scroll inside their cards too.
    await page.setViewport({ width: 390, height: 844, isMobile: true });
    const offenders = await page.evaluate(() =>
      [...document.querySelectorAll('#ops *')]
        .filter((e) => e.getBoundingClientRect().right > 390 && !e.closest('.scroll'))
        .map((e) => `${e.tagName}#${e.id}.${e.className}: ${Math.round(e.getBoundingClientRect().right)}`),
    );
    expect(offenders).toEqual([]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await h.expectBooksBalanced();
  });
});
