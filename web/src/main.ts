import { clearAlert, refreshAlert, wireAlert } from './alerts.js';
import { api, ApiFailure, errorText, useCsrfToken } from './api.js';
import { followBalance, stopBalance } from './balance.js';
import { clearBilling, refreshDeposits, wireBilling } from './billing.js';
import { $, onSubmit, valueOf } from './dom.js';
import { clearGenerations, refreshGenerations } from './generations.js';
import { clearKeys, refreshKeys, wireKeys } from './keys.js';
import { clearOps, startOps, wireOps } from './ops.js';
import { clearOverview, refreshOverview } from './overview.js';
import { refreshQuickstart } from './quickstart.js';
import { currentPage, followPages, showPage, showTabs, type Page } from './pages.js';
import { clearSavedCard, refreshSavedCard, wireSavedCard } from './saved-card.js';
import { clearUsage, refreshUsage, wireUsage } from './usage.js';

/** The console's entry: the session decides between sign-in, the customer pages and the ops view. */

function showSignIn(message = '') {
  stopBalance();
  $('app').hidden = true;
  clearOps();
  showTabs(false);
  $('who').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message;
  // Never leave another person's figures on screen.
  clearOverview();
  clearBilling();
  clearSavedCard();
  clearAlert();
  clearUsage();
  clearGenerations();
  clearKeys();
}

/** What a page reads when it opens and when the ledger moves (the overview's figures and the deposits are always read). */
const PAGE_REFRESH: Record<Page, (() => Promise<unknown>) | null> = {
  overview: null,
  billing: () => Promise.all([refreshSavedCard(), refreshAlert()]),
  usage: refreshUsage,
  generations: refreshGenerations,
  keys: refreshKeys,
  quickstart: refreshQuickstart,
};

async function refresh() {
  try {
    await Promise.all([refreshOverview(), refreshDeposits(), PAGE_REFRESH[currentPage()]?.()]);
  } catch (e) {
    if (e instanceof ApiFailure && e.status === 401) showSignIn('Your session has ended: sign in again.');
    else $('balance-error').textContent = errorText(e);
  }
}

// Tables follow the ledger and the deposits: re-read when the balance stream says something changed, not on a timer.
let pending: ReturnType<typeof setTimeout> | undefined;
function scheduleRefresh() {
  clearTimeout(pending);
  pending = setTimeout(() => void refresh(), 150);
}

async function start() {
  let session;
  try {
    session = await api('/console/api/session');
  } catch (e) {
    return showSignIn(e instanceof ApiFailure && e.status === 401 ? '' : errorText(e));
  }
  useCsrfToken(session.csrf_token);
  $('who-email').textContent = session.user.email;
  $('who').hidden = false;
  $('signin').hidden = true;
  if (session.user.role === 'ops') return startOps();
  $('app').hidden = false;
  showTabs(true);
  showPage(currentPage());
  followBalance(scheduleRefresh);
  void PAGE_REFRESH[currentPage()]?.();
}

async function startSession(path: string, body: object, errorId: string) {
  try {
    await api(path, { method: 'POST', body: JSON.stringify(body) });
    $(errorId).textContent = '';
    await start();
  } catch (e) {
    $(errorId).textContent = errorText(e);
  }
}

const swap = (show: string) => {
  for (const id of ['signin-form', 'signup-form', 'link-form', 'reset-form']) $(id).hidden = id !== show;
};

onSubmit('signin-form', () => {
  const done = startSession('/console/api/sign-in', { email: valueOf('email'), password: valueOf('password') }, 'signin-error');
  $<HTMLInputElement>('password').value = '';
  return done;
});
onSubmit('signup-form', () =>
  startSession('/console/api/sign-up', { name: valueOf('signup-name'), email: valueOf('signup-email'), password: valueOf('signup-password') }, 'signup-error'),
);
onSubmit('link-form', async () => {
  const token = location.hash.slice('#/link/'.length);
  await startSession('/console/api/links/redeem', { token, password: valueOf('link-password') }, 'link-error');
  if (!$('app').hidden || !$('ops').hidden) history.replaceState(null, '', location.pathname);
});
onSubmit('reset-form', async () => {
  $('reset-status').textContent = '';
  try {
    const answer = await api('/console/api/password-reset', { method: 'POST', body: JSON.stringify({ email: valueOf('reset-email') }) });
    $('reset-error').textContent = '';
    // The same words whether or not the address has a sign-in: the server does not say either.
    $('reset-status').textContent =
      answer.delivery === 'email'
        ? 'If this address has a console sign-in, a reset link is on its way to it. The link works once, for an hour.'
        : `Reset links are handed out by support on this install: write to ${answer.support_email}.`;
  } catch (e) {
    $('reset-error').textContent = errorText(e);
  }
});
$('show-signup').addEventListener('click', () => swap('signup-form'));
$('show-signin').addEventListener('click', () => swap('signin-form'));
$('show-reset').addEventListener('click', () => {
  $<HTMLInputElement>('reset-email').value = valueOf('email');
  swap('reset-form');
  $('reset-email').focus();
});
$('reset-back').addEventListener('click', () => swap('signin-form'));
$('signout').addEventListener('click', async () => {
  await api('/console/api/sign-out', { method: 'POST' }).catch(() => undefined);
  showSignIn();
});
wireBilling(scheduleRefresh);
wireSavedCard();
wireAlert();
wireOps();
wireUsage();
wireKeys();
followPages((page) => void PAGE_REFRESH[page]?.());

function showLinkForm() {
  showSignIn();
  swap('link-form');
}
// A link pasted into a console tab that is already open is a hash change, not a page load.
window.addEventListener('hashchange', () => {
  if (location.hash.startsWith('#/link/')) showLinkForm();
});

if (location.hash.startsWith('#/link/')) showLinkForm();
else void start();
