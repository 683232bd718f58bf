import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promptPicture } from '../../src/sandboxes/gemini/png.js';
import { harnessWithGemini, type GenerationHarness } from '../workflows/generation-fixtures.js';
import { launchChromium } from './chromium.js';

describe('console generations page in headless Chromium', () => {
  let g: GenerationHarness;
  let browser: Browser;
  beforeAll(async () => {
    g = await harnessWithGemini();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await g?.stop();
  });

  it('lists the images generated through the API with their status, cost and a preview that loads', async () => {
    const { h } = g;
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const invitation = await (await h.admin('POST', `/admin/accounts/${accountId}/console-invitations`, { email: `gen-${accountId}@example.com` })).json();
    const made = await (await h.call('POST', '/v1/images/generations', { key, body: { prompt: 'a green teapot', n: 2 } })).json();
    expect(made.cost).toBe(0.42);

    const page = await browser.newPage();
    await page.goto(invitation.url);
    await page.waitForSelector('#link-password', { visible: true });
    await page.type('#link-password', 'correct horse battery');
    await page.click('#link-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('available')!.textContent === '$0.58');
    await page.click('#tabs a[data-page=generations]');
    await page.waitForFunction((id: string) => document.getElementById('gen-images')!.textContent!.includes(id), {}, made.id);
    const row = (await page.$eval('#gen-images', (e) => e.textContent))!;
    expect(row).toContain('a green teapot');
    expect(row).toContain('completed');
    expect(row).toContain('$0.42');
    // Both previews are the delivered pictures, loaded by the browser from their signed links.
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('#gen-images img.preview')].every((i) => i.complete && i.naturalWidth > 0));
    const srcs = await page.$$eval('#gen-images img.preview', (imgs) => imgs.map((i) => (i as HTMLImageElement).src));
    expect(srcs).toHaveLength(2);
    expect(Buffer.from(await (await fetch(srcs[0]!)).arrayBuffer()).equals(promptPicture('a green teapot'))).toBe(true);
    expect(await page.$eval('#gen-videos', (e) => e.textContent)).toContain('No videos yet.');
    await page.close();
    await h.expectBooksBalanced();
  });
});
