import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

/** A browser in miniature: keeps the session cookie and sends the CSRF token it was given. */
class Browser {
  cookie = '';
  csrf = '';
  constructor(private readonly h: Harness) {}

  async send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(this.h.baseUrl + path, {
      method,
      headers: {
        ...(this.cookie ? { cookie: this.cookie } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const set = res.headers.get('set-cookie');
    if (set) this.cookie = set.split(';')[0]!.endsWith('=') ? '' : set.split(';')[0]!;
    return res;
  }

  async startSession(path: string, body: unknown) {
    const res = await this.send('POST', path, body);
    if (res.ok) this.csrf = (await res.clone().json()).csrf_token;
    return res;
  }

  /** A state-changing request the way the console sends it. */
  post(path: string, body?: unknown) {
    return this.send('POST', path, body, { 'x-csrf-token': this.csrf });
  }
}

const PASSWORD = 'correct horse battery';
let counter = 0;
const uniqueEmail = () => `person${Date.now()}${counter++}@example.com`;

describe('console sign-in (sign-up open, as in development)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ worker: false });
  });
  afterEach(async () => h.expectBooksBalanced());
  afterAll(async () => h?.close());

  it('signs up with an httpOnly SameSite=Strict cookie, stores only a scrypt hash, and reads the account with the session', async () => {
    const browser = new Browser(h);
    const email = uniqueEmail();
    const res = await browser.send('POST', '/console/api/sign-up', { name: 'Ada', email, password: PASSWORD });
    expect(res.status, await res.clone().text()).toBe(201);
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^cheapa_session=/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    const session = await res.json();
    expect(session).toMatchObject({ object: 'console_session', user: { email, role: 'customer' } });
    expect(session.csrf_token).toEqual(expect.any(String));

    const row = await h.services.db('console_users').where({ id: session.user.id }).first();
    expect(row.password_hash).toMatch(/^scrypt\$/);
    expect(row.password_hash).not.toContain(PASSWORD);
    const stored = await h.services.db('console_sessions').where({ user_id: session.user.id }).first();
    expect(cookie).not.toContain(stored.token_hash);

    const grants = await browser.send('GET', '/v1/dashboard/billing/credit_grants');
    expect(grants.status).toBe(200);
    expect(await grants.json()).toMatchObject({ object: 'credit_summary', total_available: 0 });
    const me = await browser.send('GET', '/console/api/session');
    expect((await me.json()).user.account_id).toBe(session.user.account_id);
  });

  it('keeps spending behind an API key: a session cannot call chat, images or embeddings', async () => {
    const browser = new Browser(h);
    await browser.startSession('/console/api/sign-up', { name: 'Bo', email: uniqueEmail(), password: PASSWORD });
    for (const [method, path] of [['POST', '/v1/chat/completions'], ['POST', '/v1/images/generations'], ['POST', '/v1/embeddings']]) {
      const res = await browser.send(method!, path!, method === 'GET' ? undefined : {}, { 'x-csrf-token': browser.csrf });
      expect(res.status, `${method} ${path}`).toBe(401);
    }
  });

  it('lets the account\'s person manage its keys from the session: create (secret once), change, revoke; CSRF-checked', async () => {
    const browser = new Browser(h);
    const me = await (await browser.startSession('/console/api/sign-up', { name: 'Kay', email: uniqueEmail(), password: PASSWORD })).json();
    const accountId = me.user.account_id as string;

    const forged = await browser.send('POST', '/v1/keys', { name: 'forged' });
    expect(forged.status).toBe(403);
    expect(await h.services.db('api_keys').where({ account_id: accountId, name: 'forged' }).first()).toBeUndefined();

    const created = await browser.post('/v1/keys', { name: 'laptop', limit_usd: '5', models: ['gpt-5.2'], rpm: 60, tpm: 100000 });
    expect(created.status, await created.clone().text()).toBe(201);
    const key = await created.json();
    expect(key).toMatchObject({ name: 'laptop', limit_usd: '5.00', models: ['gpt-5.2'], rpm: 60, tpm: 100000, manage: false });
    expect(key.key).toEqual(expect.any(String));
    // The secret is in that answer only: the list never shows it again.
    const list = await (await browser.send('GET', '/v1/keys')).json();
    expect(list.data.map((k: any) => k.id)).toContain(key.id);
    expect(JSON.stringify(list)).not.toContain(key.key);
    // It is a real key of this account.
    const credits = await h.call('GET', '/v1/dashboard/billing/credit_grants', { key: key.key });
    expect(credits.status).toBe(200);

    const renamed = await browser.send('PATCH', `/v1/keys/${key.id}`, { name: 'laptop 2', rpm: null }, { 'x-csrf-token': browser.csrf });
    expect(await renamed.json()).toMatchObject({ name: 'laptop 2', rpm: null });
    const revoked = await browser.send('DELETE', `/v1/keys/${key.id}`, undefined, { 'x-csrf-token': browser.csrf });
    expect(await revoked.json()).toMatchObject({ id: key.id, deleted: true });
    expect((await h.call('GET', '/v1/dashboard/billing/credit_grants', { key: key.key })).status).toBe(401);

    // Bad input is a 400 that creates nothing; another account's key is not found.
    const bad = await browser.post('/v1/keys', { name: 'x', models: ['no-such-model'] });
    expect(bad.status).toBe(400);
    const other = await h.createAccount();
    const foreign = await browser.send('DELETE', `/v1/keys/${other.keyId}`, undefined, { 'x-csrf-token': browser.csrf });
    expect(foreign.status).toBe(404);
    expect((await h.call('GET', '/v1/dashboard/billing/credit_grants', { key: other.key })).status).toBe(200);
  });

  it('refuses a state-changing request without the CSRF token or from another origin, and changes nothing', async () => {
    const browser = new Browser(h);
    const signedUp = await (await browser.startSession('/console/api/sign-up', { name: 'Cy', email: uniqueEmail(), password: PASSWORD })).json();
    const support = { kind: 'other', message: 'Please call me back' };
    const noToken = await browser.send('POST', '/v1/billing/support', support);
    expect(noToken.status).toBe(403);
    expect((await noToken.json()).error.code).toBe('csrf_token_invalid');
    const crossSite = await browser.send('POST', '/v1/billing/support', support, { 'x-csrf-token': browser.csrf, origin: 'https://evil.example' });
    expect(crossSite.status).toBe(403);
    expect(await h.services.db('support_requests').where({ account_id: signedUp.user.account_id }).first()).toBeUndefined();

    const ok = await browser.post('/v1/billing/support', support);
    expect(ok.status, await ok.clone().text()).toBe(201);
  });

  it('answers a wrong password and an unknown email alike, then limits attempts per email even with the right password', async () => {
    const email = uniqueEmail();
    await new Browser(h).startSession('/console/api/sign-up', { name: 'Di', email, password: PASSWORD });
    const wrong = await new Browser(h).send('POST', '/console/api/sign-in', { email, password: 'not the password' });
    const unknown = await new Browser(h).send('POST', '/console/api/sign-in', { email: uniqueEmail(), password: 'not the password' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect((await wrong.json()).error).toEqual((await unknown.json()).error);

    for (let i = 0; i < 4; i++) expect((await new Browser(h).send('POST', '/console/api/sign-in', { email, password: 'nope nope nope' })).status).toBe(401);
    const locked = await new Browser(h).send('POST', '/console/api/sign-in', { email, password: PASSWORD });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await locked.json()).error.code).toBe('too_many_sign_in_attempts');
  });

  it('signs out: the old cookie no longer works', async () => {
    const browser = new Browser(h);
    await browser.startSession('/console/api/sign-up', { name: 'Ed', email: uniqueEmail(), password: PASSWORD });
    const old = browser.cookie;
    expect((await browser.post('/console/api/sign-out')).status).toBe(204);
    const again = await fetch(`${h.baseUrl}/console/api/session`, { headers: { cookie: old } });
    expect(again.status).toBe(401);
  });

  it('treats a session cookie that is not valid percent-encoding as no session (found by the fuzzer: it was a 500)', async () => {
    const cookie = 'cheapa_session=%E0%A4%A';
    const session = await fetch(`${h.baseUrl}/console/api/session`, { headers: { cookie } });
    expect(session.status).toBe(401);
    expect((await session.json()).error.type).toBeDefined();
    const events = await fetch(`${h.baseUrl}/console/api/balance/events`, { headers: { cookie } });
    expect(events.status).toBe(401);
    const signOut = await fetch(`${h.baseUrl}/console/api/sign-out`, { method: 'POST', headers: { cookie } });
    expect(signOut.status).toBeLessThan(500);
  });

  it('refuses bad input with a 400 and creates nothing', async () => {
    const email = uniqueEmail();
    const short = await new Browser(h).send('POST', '/console/api/sign-up', { name: 'Fi', email, password: 'short' });
    expect(short.status).toBe(400);
    const form = await fetch(`${h.baseUrl}/console/api/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `email=${encodeURIComponent(email)}&password=x`,
    });
    expect(form.status).toBe(415);
    expect(await h.services.db('console_users').whereRaw('lower(email) = ?', [email]).first()).toBeUndefined();
  });
});

describe('console sign-in by invitation (CONSOLE_SIGNUP=closed)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ worker: false, env: { CONSOLE_SIGNUP: 'closed' } });
  });
  afterEach(async () => h.expectBooksBalanced());
  afterAll(async () => h?.close());

  const tokenOf = (url: string) => url.split('#/link/')[1]!;

  it('refuses self sign-up; an invitation link sets the password once and signs in', async () => {
    const closed = await new Browser(h).send('POST', '/console/api/sign-up', { name: 'Gu', email: uniqueEmail(), password: PASSWORD });
    expect(closed.status).toBe(403);
    expect((await closed.json()).error.code).toBe('sign_up_closed');

    const { accountId } = await h.createAccount({ balanceUsd: '2.50' });
    const email = uniqueEmail();
    const invitation = await (await h.admin('POST', `/admin/accounts/${accountId}/console-invitations`, { email })).json();
    expect(invitation.url).toContain(`${h.baseUrl}/#/link/`);
    const browser = new Browser(h);
    const accepted = await browser.startSession('/console/api/links/redeem', { token: tokenOf(invitation.url), password: PASSWORD });
    expect(accepted.status).toBe(200);
    const grants = await (await browser.send('GET', '/v1/dashboard/billing/credit_grants')).json();
    expect(grants.total_available).toBe(2.5);

    const reused = await new Browser(h).send('POST', '/console/api/links/redeem', { token: tokenOf(invitation.url), password: 'another password 1' });
    expect(reused.status).toBe(400);
    expect((await reused.json()).error.code).toBe('invalid_link');
    expect((await new Browser(h).send('POST', '/console/api/sign-in', { email, password: PASSWORD })).status).toBe(200);
  });

  it('a password reset link ends the sessions signed in with the old password', async () => {
    const { accountId } = await h.createAccount();
    const email = uniqueEmail();
    const invitation = await (await h.admin('POST', `/admin/accounts/${accountId}/console-invitations`, { email })).json();
    const first = new Browser(h);
    await first.startSession('/console/api/links/redeem', { token: tokenOf(invitation.url), password: PASSWORD });

    const reset = await (await h.admin('POST', `/admin/console/users/${invitation.user_id}/password-reset`)).json();
    const second = new Browser(h);
    expect((await second.startSession('/console/api/links/redeem', { token: tokenOf(reset.url), password: 'a brand new password' })).status).toBe(200);
    expect((await first.send('GET', '/console/api/session')).status).toBe(401);
    expect((await second.send('GET', '/console/api/session')).status).toBe(200);
    expect((await new Browser(h).send('POST', '/console/api/sign-in', { email, password: PASSWORD })).status).toBe(401);
  });

  it('without SMTP, a reset request says support hands links out (known or unknown email alike) and issues no link', async () => {
    const { accountId } = await h.createAccount();
    const email = uniqueEmail();
    const invitation = await (await h.admin('POST', `/admin/accounts/${accountId}/console-invitations`, { email })).json();
    await new Browser(h).startSession('/console/api/links/redeem', { token: tokenOf(invitation.url), password: PASSWORD });
    const known = await new Browser(h).send('POST', '/console/api/password-reset', { email });
    const unknown = await new Browser(h).send('POST', '/console/api/password-reset', { email: uniqueEmail() });
    expect(known.status).toBe(202);
    const answer = await known.json();
    expect(answer).toEqual({ object: 'password_reset_request', delivery: 'support', support_email: 'support@cheapa.example' });
    expect(await unknown.json()).toEqual(answer);
    const links = await h.services.db('console_links').where({ user_id: invitation.user_id, purpose: 'password_reset' });
    expect(links).toEqual([]);
  });

  it('lets an invited operator use the admin API with a session, and refuses customers there', async () => {
    const op = await (await h.admin('POST', '/admin/console/operators', { email: uniqueEmail() })).json();
    const operator = new Browser(h);
    await operator.startSession('/console/api/links/redeem', { token: tokenOf(op.url), password: PASSWORD });
    const { accountId } = await h.createAccount();
    expect((await operator.send('GET', `/admin/accounts/${accountId}`)).status).toBe(200);
    const noCsrf = await operator.send('POST', '/admin/accounts', { name: 'X', email: 'x@example.com' });
    expect(noCsrf.status).toBe(403);

    const invitation = await (await h.admin('POST', `/admin/accounts/${accountId}/console-invitations`, { email: uniqueEmail() })).json();
    const customer = new Browser(h);
    await customer.startSession('/console/api/links/redeem', { token: tokenOf(invitation.url), password: PASSWORD });
    expect((await customer.send('GET', `/admin/accounts/${accountId}`)).status).toBe(403);
  });
});
