import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'puppeteer-core';
import { it } from 'vitest';
import { harnessWithGemini } from '../../workflows/generation-fixtures.js';
import { launchChromium } from '../chromium.js';

/** The console's main pages at a laptop's and a phone's width, for the README (docs/console/). */
const OUT = path.resolve('docs/console');
const SIZES = [
  { name: '1280', width: 1280, height: 800, isMobile: false },
  { name: '390', width: 390, height: 844, isMobile: true },
] as const;
const PAGES = ['overview', 'billing', 'usage', 'generations', 'keys', 'quickstart'] as const;

async function redeem(page: Page, link: string) {
  await page.goto(link);
  await page.waitForSelector('#link-password', { visible: true });
  await page.type('#link-password', 'correct horse battery');
  await page.click('#link-form button[type=submit]');
}

it('writes the console screenshots', async () => {
  fs.mkdirSync(OUT, { recursive: true });
  // The Gemini sandbox, as the generation tests use it, so the Generations page shows real pictures;
  // a Temporal UI address so the ops view shows its workflow links.
  const g = await harnessWithGemini({ env: { TEMPORAL_UI_URL: 'http://127.0.0.1:8233' } });
  const h = g.h;
  const browser = await launchChromium();
  try {
    // A customer with some history: credit, two keys, a few requests on two models, a deposit.
    const { accountId, key } = await h.createAccount({ balanceUsd: '25.00', name: 'Acme Labs' });
    const batch = await (await h.admin('POST', `/admin/accounts/${accountId}/keys`, { name: 'batch jobs' })).json();
    for (const [k, model] of [[key, 'gpt-5.2'], [key, 'gpt-5.2'], [batch.key, 'gpt-5-mini'], [key, 'claude-sonnet-4-5'], [batch.key, 'gpt-5-mini']] as const) {
      await h.openai(k).chat.completions.create({ model, messages: [{ role: 'user', content: 'A question for the screenshots' }], max_tokens: 40 });
    }
    await h.call('POST', '/v1/billing/deposits', { key, body: { tier: 'standard', method: 'card' } });
    for (const prompt of ['a lighthouse at dusk, watercolour', 'a green teapot on a wooden table']) {
      const made = await h.call('POST', '/v1/images/generations', { key, body: { prompt, n: 2 } });
      if (!made.ok) throw new Error(`image generation failed: ${made.status} ${await made.text()}`);
    }
    const invitation = await (await h.admin('POST', `/admin/accounts/${accountId}/console-invitations`, { email: 'ada@acme.example' })).json();
    const op = await (await h.admin('POST', '/admin/console/operators', { email: 'ops@cheapa.example' })).json();

    for (const size of SIZES) {
      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      await page.setViewport({ width: size.width, height: size.height, isMobile: size.isMobile });
      await page.goto(h.baseUrl + '/');
      await page.waitForSelector('#email', { visible: true });
      await page.screenshot({ path: path.join(OUT, `sign-in-${size.name}.png`) });
      if (size.name === '1280') await redeem(page, invitation.url);
      else {
        await page.type('#email', 'ada@acme.example');
        await page.type('#password', 'correct horse battery');
        await page.click('#signin-form button[type=submit]');
      }
      await page.waitForFunction(() => document.getElementById('available')!.textContent !== '–');
      for (const name of PAGES) {
        await page.click(`#tabs a[data-page=${name}]`);
        await page.waitForSelector(`#app section[data-page=${name}]`, { visible: true });
        // Let the page's reads land (no spinner to wait for: the tables fill in place).
        await page.waitForNetworkIdle({ idleTime: 300 });
        if (name === 'generations') {
          await page.waitForFunction(() => {
            const previews = [...document.querySelectorAll<HTMLImageElement>('#gen-images img.preview')];
            return previews.length === 4 && previews.every((i) => i.complete && i.naturalWidth > 0);
          });
        }
        await page.screenshot({ path: path.join(OUT, `${name}-${size.name}.png`), fullPage: true });
      }
      await context.close();

      const opsContext = await browser.createBrowserContext();
      const ops = await opsContext.newPage();
      await ops.setViewport({ width: size.width, height: size.height, isMobile: size.isMobile });
      if (size.name === '1280') await redeem(ops, op.url);
      else {
        await ops.goto(h.baseUrl + '/');
        await ops.waitForSelector('#email', { visible: true });
        await ops.type('#email', 'ops@cheapa.example');
        await ops.type('#password', 'correct horse battery');
        await ops.click('#signin-form button[type=submit]');
      }
      await ops.waitForSelector(`a[data-account="${accountId}"]`);
      await ops.click(`a[data-account="${accountId}"]`);
      await ops.waitForFunction(() => document.getElementById('ops-available')!.textContent !== '–');
      await ops.screenshot({ path: path.join(OUT, `ops-${size.name}.png`), fullPage: true });
      await opsContext.close();
    }
  } finally {
    await browser.close();
    await g.stop();
  }
});
