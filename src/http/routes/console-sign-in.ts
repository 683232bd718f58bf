import { Router, type Response } from 'express';
import { z } from 'zod';
import { accountSnapshot } from '../../console/balance-snapshot.js';
import type { ConsoleUser } from '../../console/console-users.js';
import { deliverLink, type LinkDelivery } from '../../console/link-mail.js';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../../console/password.js';
import { requestPasswordReset } from '../../console/password-reset.js';
import { invite, issuePasswordReset, redeemLink, signIn, signUp, type StartedSession } from '../../console/sign-in.js';
import type { Services } from '../../services.js';
import { clearSessionCookie, consoleSessionOf, refuseCrossSite, requireConsoleSession, sessionToken, setSessionCookie } from '../console-session.js';
import { notFound } from '../errors.js';
import { unix } from '../present.js';
import { defineRoute } from '../route.js';

const email = z.string().trim().toLowerCase().max(254).email();
const password = z.string().min(PASSWORD_MIN_LENGTH).max(PASSWORD_MAX_LENGTH);

const SignIn = z.strictObject({ email, password: z.string().min(1).max(PASSWORD_MAX_LENGTH) });
const SignUp = z.strictObject({ name: z.string().trim().min(1).max(200), email, password });
const RedeemLink = z.strictObject({ token: z.string().min(20).max(200), password });
const ResetRequest = z.strictObject({ email });
const Invitation = z.strictObject({ email });
const OpsInvitation = z.strictObject({ email });

/** The console's live balance is pushed at least this often, so proxies keep the stream open. */
const HEARTBEAT_MS = 15_000;

/**
 * Console sign-in: `/console/api/*` for the browser (session cookie), `/admin/console/*` for ops
 * (invitations and reset links: mailed when SMTP is configured, otherwise in the answer for ops to
 * hand over). The console itself calls the public /v1 endpoints that console-access.ts opens to a session.
 */
export function consoleSignInRoutes(services: Services): Router {
  const router = Router();
  const deps = services.console.signIn;
  const mail = services.console.mail;

  const started = (res: Response, session: StartedSession, status = 200) => {
    setSessionCookie(res, services, session.token, session.expiresAt);
    res.status(status).json(presentSession(session.user, session.csrfToken, session.expiresAt));
  };

  router.use('/console/api', refuseCrossSite(services));

  defineRoute(
    router,
    { method: 'post', path: '/console/api/sign-in', summary: 'Sign in to the console with email and password', tag: 'console', auth: 'none', body: SignIn },
    async ({ body }, req, res) => started(res, await signIn(deps, { ...body, address: req.ip ?? 'unknown' })),
  );

  defineRoute(
    router,
    { method: 'post', path: '/console/api/sign-up', summary: 'Create an account (when CONSOLE_SIGNUP=open)', tag: 'console', auth: 'none', body: SignUp },
    async ({ body }, _req, res) => started(res, await signUp(deps, body), 201),
  );

  defineRoute(
    router,
    { method: 'post', path: '/console/api/links/redeem', summary: 'Accept an invitation or reset the password with a one-time link', tag: 'console', auth: 'none', body: RedeemLink },
    async ({ body }, _req, res) => started(res, await redeemLink(deps, body)),
  );

  defineRoute(
    router,
    {
      method: 'post',
      path: '/console/api/password-reset',
      summary: 'Mail a one-time password-reset link (the same answer whether or not the email has a sign-in)',
      tag: 'console',
      auth: 'none',
      body: ResetRequest,
      responses: { 202: { description: '`delivery`: `email` (a link is on its way if the address has a sign-in) or `support` (no mail on this install)' } },
    },
    async ({ body }, req, res) => {
      const { delivery } = await requestPasswordReset({ ...deps, mail }, { email: body.email, address: req.ip ?? 'unknown' });
      res.status(202).json({ object: 'password_reset_request', delivery, ...(delivery === 'support' ? { support_email: services.config.support.email } : {}) });
    },
  );

  router.use(['/console/api/session', '/console/api/sign-out', '/console/api/balance/events'], requireConsoleSession(services));

  defineRoute(
    router,
    { method: 'get', path: '/console/api/session', summary: 'Who is signed in, and the CSRF token for state-changing requests', tag: 'console', auth: 'console_session' },
    async (_input, _req, res) => {
      const session = consoleSessionOf(res);
      res.json(presentSession(session.user, session.csrfToken, session.expiresAt));
    },
  );

  defineRoute(
    router,
    { method: 'post', path: '/console/api/sign-out', summary: 'End this console session', tag: 'console', auth: 'console_session' },
    async (_input, req, res) => {
      await services.console.users.endSession(sessionToken(req)!);
      clearSessionCookie(res, services);
      res.status(204).end();
    },
  );

  defineRoute(
    router,
    {
      method: 'get',
      path: '/console/api/balance/events',
      summary: "The live balance as server-sent events (`balance`), pushed when the ledger changes and when the account's deposits, saved card or auto top-up change",
      tag: 'console',
      auth: 'console_session',
      responses: { 200: { description: 'text/event-stream of `balance` events', contentType: 'text/event-stream' } },
    },
    async (_input, req, res) => {
      const { user } = consoleSessionOf(res);
      if (!user.accountId) throw notFound('Operators have no balance of their own.');
      const accountId = user.accountId;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
      let sending = false;
      let again = false;
      // Notifications can arrive faster than a read; one read in flight and one queued is enough.
      const push = async () => {
        if (sending) return void (again = true);
        sending = true;
        try {
          do {
            again = false;
            const snapshot = await accountSnapshot(services.ledger, accountId);
            res.write(`event: balance\ndata: ${JSON.stringify(snapshot)}\n\n`);
          } while (again && !res.writableEnded);
        } catch (err) {
          services.logger.warn({ err, accountId }, 'could not read the balance for the console stream');
        } finally {
          sending = false;
        }
      };
      const unsubscribe = await services.console.balances.subscribe(accountId, () => void push());
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
      req.on('close', () => {
        clearInterval(heartbeat);
        unsubscribe();
      });
      await push();
    },
  );

  defineRoute(
    router,
    {
      method: 'post',
      path: '/admin/accounts/:id/console-invitations',
      summary: "Invite a customer to the account's console (a one-time link that sets the password)",
      tag: 'admin',
      auth: 'admin',
      body: Invitation,
    },
    async ({ body, params }, _req, res) => {
      if (!(await services.accounts.get(params.id!))) throw notFound(`No account ${params.id}.`, 'id');
      const { user, token, expiresAt } = await invite(deps, { email: body.email, role: 'customer', accountId: params.id! });
      const delivery = await deliverLink(mail, { user, purpose: 'invitation', token, expiresAt });
      res.status(201).json({ object: 'console_invitation', user_id: user.id, email: user.email, ...presentDelivery(delivery), expires_at: unix(expiresAt) });
    },
  );

  defineRoute(
    router,
    { method: 'post', path: '/admin/console/operators', summary: 'Invite an operator to the ops view', tag: 'admin', auth: 'admin', body: OpsInvitation },
    async ({ body }, _req, res) => {
      const { user, token, expiresAt } = await invite(deps, { email: body.email, role: 'ops', accountId: null });
      const delivery = await deliverLink(mail, { user, purpose: 'invitation', token, expiresAt });
      res.status(201).json({ object: 'console_invitation', user_id: user.id, email: user.email, ...presentDelivery(delivery), expires_at: unix(expiresAt) });
    },
  );

  defineRoute(
    router,
    {
      method: 'post',
      path: '/admin/console/users/:id/password-reset',
      summary: 'A one-time password-reset link: mailed to the person when SMTP is configured, otherwise in the answer to hand over',
      tag: 'admin',
      auth: 'admin',
    },
    async ({ params }, _req, res) => {
      const issued = await issuePasswordReset(deps, params.id!);
      if (!issued) throw notFound(`No console user ${params.id}.`, 'id');
      const delivery = await deliverLink(mail, { user: issued.user, purpose: 'password_reset', token: issued.token, expiresAt: issued.expiresAt });
      res.status(201).json({ object: 'console_link', purpose: 'password_reset', ...presentDelivery(delivery), expires_at: unix(issued.expiresAt) });
    },
  );

  return router;
}

/** `url` only when ops must hand the link over: with mail configured it goes to the person alone. */
function presentDelivery(d: LinkDelivery) {
  return d.delivery === 'email' ? { delivery: d.delivery } : { delivery: d.delivery, url: d.url, ...(d.mailError ? { mail_error: d.mailError } : {}) };
}

function presentSession(user: ConsoleUser, csrfToken: string, expiresAt: Date) {
  return {
    object: 'console_session',
    user: { id: user.id, email: user.email, role: user.role, account_id: user.accountId },
    csrf_token: csrfToken,
    expires_at: unix(expiresAt),
  };
}
