import { Writable } from 'node:stream';
import type { Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { startLocalSmtp, type LocalSmtp, type ReceivedMail } from '../support/smtp-server.js';
import { launchChromium } from './chromium.js';

describe('console mail over SMTP (invitations and password resets)', () => {
  let h: Harness;
  let smtp: LocalSmtp;
  let browser: Browser;
  const logs: string[] = [];
  /** Every one-time link token seen in this file, to prove none of them reached a log line. */
  const tokens: string[] = [];

  beforeAll(async () => {
    smtp = await startLocalSmtp();
    h = await startHarness({
      worker: false,
      env: { SMTP_URL: smtp.url, MAIL_FROM: 'Cheapa console <no-reply@cheapa.example>', CONSOLE_SIGNUP: 'closed', LOG_LEVEL: 'debug' },
      logStream: new Writable({
        write(chunk, _enc, done) {
          logs.push(String(chunk));
          done();
        },
      }),
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
    await smtp?.close();
  });

  const linkIn = (mail: ReceivedMail) => {
    const url = /(http:\/\/\S+\/#\/link\/[A-Za-z0-9_-]+)/.exec(mail.text)?.[1];
    if (!url) throw new Error(`no link in: ${mail.text}`);
    tokens.push(url.split('#/link/')[1]!);
    return url;
  };
  const post = (path: string, body: unknown) =>
    fetch(h.baseUrl + path, { method: 'POST', headers: { 'content-type': 'application/json', origin: h.baseUrl }, body: JSON.stringify(body) });

  /** A customer invited by mail who chose `password` through the mailed link. */
  async function customer(password: string) {
    const { accountId } = await h.createAccount();
    const email = `person-${accountId}@example.com`;
    const invited = await h.admin('POST', `/admin/accounts/${accountId}/console-invitations`, { email });
    const body = await invited.json();
    const link = linkIn(await smtp.nextTo(email));
    const redeemed = await post('/console/api/links/redeem', { token: link.split('#/link/')[1], password });
    expect(redeemed.status).toBe(200);
    return { accountId, email, userId: body.user_id as string };
  }

  it('mails an invitation from MAIL_FROM with the SMTP login (the link is not in the answer), and the link sets the password once', async () => {
    const { accountId } = await h.createAccount();
    const email = `invitee-${accountId}@example.com`;
    const res = await h.admin('POST', `/admin/accounts/${accountId}/console-invitations`, { email });
    expect(res.status).toBe(201);
    const answer = await res.json();
    expect(answer).toMatchObject({ object: 'console_invitation', email, delivery: 'email' });
    expect(answer.url).toBeUndefined();

    const mail = await smtp.nextTo(email);
    expect(mail.from).toBe('no-reply@cheapa.example');
    expect(mail.user).toBe('console-mailer');
    expect(mail.subject).toBe('You are invited to the Cheapa billing console');
    const link = linkIn(mail);
    expect(link.startsWith(`${h.baseUrl}/#/link/`)).toBe(true);

    const token = link.split('#/link/')[1];
    expect((await post('/console/api/links/redeem', { token, password: 'correct horse battery' })).status).toBe(200);
    expect((await post('/console/api/sign-in', { email, password: 'correct horse battery' })).status).toBe(200);
    expect((await post('/console/api/links/redeem', { token, password: 'another horse battery' })).status).toBe(400);

    const op = await (await h.admin('POST', '/admin/console/operators', { email: `ops-${accountId}@example.com` })).json();
    expect(op.delivery).toBe('email');
    expect(op.url).toBeUndefined();
    const opsMail = await smtp.nextTo(`ops-${accountId}@example.com`);
    expect(opsMail.subject).toBe('You are invited to the Cheapa ops view');
    linkIn(opsMail);
  });

  it('resets a forgotten password in the browser through the mailed link; an unknown email gets the same answer and no mail', async () => {
    const { email } = await customer('first password here');
    const page = await (await browser.createBrowserContext()).newPage();
    await page.goto(h.baseUrl);
    await page.waitForSelector('#show-reset', { visible: true });
    await page.type('#email', email);
    await page.click('#show-reset');
    await page.waitForSelector('#reset-email', { visible: true });
    expect(await page.$eval('#reset-email', (e) => (e as HTMLInputElement).value)).toBe(email);
    await page.click('#reset-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('reset-status')!.textContent!.startsWith('If this address has a console sign-in'));

    const mail = await smtp.nextTo(email);
    expect(mail.subject).toBe('Reset your Cheapa console password');
    const link = linkIn(mail);
    await page.goto(link);
    await page.waitForSelector('#link-password', { visible: true });
    await page.type('#link-password', 'second password here');
    await page.click('#link-form button[type=submit]');
    await page.waitForFunction((e: string) => document.getElementById('who-email')!.textContent === e && !document.getElementById('app')!.hidden, {}, email);
    // The used link leaves the address bar (and so the history) once it has signed in.
    await page.waitForFunction(() => !location.hash.startsWith('#/link/'));

    expect((await post('/console/api/sign-in', { email, password: 'first password here' })).status).toBe(401);
    expect((await post('/console/api/sign-in', { email, password: 'second password here' })).status).toBe(200);

    const nobody = `nobody-${Date.now()}@example.com`;
    const [known, unknown] = await Promise.all([post('/console/api/password-reset', { email }), post('/console/api/password-reset', { email: nobody })]);
    expect(known.status).toBe(202);
    expect(unknown.status).toBe(202);
    expect(await unknown.json()).toEqual(await known.json());
    linkIn(await smtp.nextTo(email));
    expect(smtp.received.filter((m) => m.to.includes(nobody))).toEqual([]);
    expect(await h.services.db('console_users').whereRaw('lower(email) = ?', [nobody]).first()).toBeUndefined();
  });

  it('limits reset requests per email: the fourth within the hour answers 429 with Retry-After', async () => {
    const email = `flood-${Date.now()}@example.com`;
    for (let i = 0; i < 3; i++) expect((await post('/console/api/password-reset', { email })).status).toBe(202);
    const refused = await post('/console/api/password-reset', { email: email.toUpperCase() });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await refused.json()).error.code).toBe('too_many_reset_requests');
    // Bad input is refused before it counts.
    const bad = await post('/console/api/password-reset', { email: 'not an email' });
    expect(bad.status).toBe(400);
  });

  it('mails the reset link ops ask for to the person, not to ops', async () => {
    const { email, userId } = await customer('a password for ops');
    const res = await h.admin('POST', `/admin/console/users/${userId}/password-reset`);
    expect(res.status).toBe(201);
    const answer = await res.json();
    expect(answer).toMatchObject({ object: 'console_link', purpose: 'password_reset', delivery: 'email' });
    expect(answer.url).toBeUndefined();
    const mail = await smtp.nextTo(email);
    expect(mail.subject).toBe('Reset your Cheapa console password');
    linkIn(mail);
  });

  it('hands the link to ops when the server refuses the message; neither links nor the SMTP password reach the logs', async () => {
    const { accountId } = await h.createAccount();
    const res = await h.admin('POST', `/admin/accounts/${accountId}/console-invitations`, { email: `someone-${accountId}@refused.example` });
    expect(res.status).toBe(201);
    const answer = await res.json();
    expect(answer.delivery).toBe('link');
    expect(answer.mail_error).toMatch(/^The mail could not be sent/);
    expect(answer.mail_error).not.toContain(smtp.password);
    expect(answer.url.startsWith(`${h.baseUrl}/#/link/`)).toBe(true);
    tokens.push(answer.url.split('#/link/')[1]);

    const text = logs.join('');
    expect(text).toContain('console link mail not sent');
    expect(tokens.length).toBeGreaterThanOrEqual(6);
    for (const token of tokens) expect(text).not.toContain(token);
    expect(text).not.toContain(smtp.password);
  });
});
