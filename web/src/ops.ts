import { api, errorText, idempotencyKey } from './api.js';
import { $, esc, fillRows, onSubmit, valueOf } from './dom.js';
import { dollars, when } from './format.js';
import { refreshAccountActivity, refreshHolds } from './ops-holds.js';
import { workflowLink } from './workflow-link.js';

/** The ops view: the admin API with an operator's session. The only place Temporal links appear. */

async function search() {
  try {
    const q = valueOf('ops-q').trim();
    const list = await api('/admin/accounts' + (q ? '?q=' + encodeURIComponent(q) : ''));
    fillRows('ops-accounts', list.data.map((a: any) => `<tr><td><a href="#" data-account="${esc(a.id)}">${esc(a.id)}</a></td><td>${esc(a.name)}</td><td>${esc(a.email)}</td><td class="num">${dollars(a.balance_usd)}</td><td class="num">${dollars(a.held_usd)}</td><td class="num">${dollars(a.available_usd)}</td></tr>`), 6, 'No account matches.');
    $('ops-error').textContent = '';
  } catch (e) {
    $('ops-error').textContent = errorText(e);
  }
}

async function openAccount(id: string) {
  try {
    const a = await api('/admin/accounts/' + encodeURIComponent(id));
    $('ops-account').hidden = false;
    $('ops-account').dataset.id = a.id;
    $('ops-account-id').textContent = a.id;
    $('ops-account-name').textContent = a.name + ' · ' + a.email;
    $('ops-balance').textContent = dollars(a.balance_usd);
    $('ops-held').textContent = dollars(a.held_usd);
    $('ops-available').textContent = dollars(a.available_usd);
    $('ops-keys').textContent = String((a.api_keys || []).filter((k: any) => !k.revoked_at).length);
    $('ops-owed').textContent = dollars(a.owed_usd);
    $('ops-suspension').textContent = a.suspension ? `Suspended since ${when(a.suspension.suspended_at)}: ${a.suspension.reason}` : '';
    await refreshAccountActivity(a.id);
  } catch (e) {
    $('ops-error').textContent = errorText(e);
  }
}

async function supportQueue() {
  try {
    const list = await api('/admin/support?limit=50');
    fillRows('ops-support', list.data.map((r: any) => `<tr><td>${esc(r.id)}</td><td><a href="#" data-account="${esc(r.account_id)}">${esc(r.account_id)}</a></td><td>${esc(r.kind)}</td><td class="num">${r.amount_usd ? dollars(r.amount_usd) : ''}</td><td>${esc(r.status)}</td><td>${esc(r.message)}</td><td>${when(r.created_at)}</td></tr>`), 7, 'The queue is empty.');
  } catch (e) {
    $('ops-error').textContent = errorText(e);
  }
}

/** Disputes and refunds of every account, newest first, each with its workflow in the Temporal UI. */
async function disputes() {
  try {
    const list = await api('/admin/disputes');
    fillRows(
      'ops-disputes',
      list.data.map(
        (d: any) =>
          `<tr><td>${esc(d.id)}</td><td>${esc(d.kind)}</td><td><a href="#" data-account="${esc(d.account_id)}">${esc(d.account_id)}</a></td><td>${esc(d.deposit_id)}</td><td class="num">${dollars(d.amount_usd)}</td><td class="num">${dollars(d.owed_usd)}</td><td>${esc(d.status)}</td><td>${when(d.created_at)}</td><td>${workflowLink(d.workflow_url, d.workflow_id)}</td></tr>`,
      ),
      9,
      'No disputes or refunds.',
    );
  } catch (e) {
    $('ops-error').textContent = errorText(e);
  }
}

export function startOps() {
  $('ops').hidden = false;
  void search();
  void supportQueue();
  void disputes();
  void refreshHolds();
}

export function clearOps() {
  $('ops').hidden = true;
  $('ops-account').hidden = true;
}

export function wireOps() {
  $('ops').addEventListener('click', (e) => {
    const id = (e.target as HTMLElement).dataset?.account;
    if (!id) return;
    e.preventDefault();
    void openAccount(id);
  });
  onSubmit('ops-search', search);
  $('ops-holds-refresh').addEventListener('click', () => void refreshHolds());
  onSubmit('ops-adjust', async () => {
    const id = $('ops-account').dataset.id!;
    const requestIds = valueOf('ops-requests').split(',').map((s) => s.trim()).filter(Boolean);
    try {
      const entry = await api(`/admin/accounts/${encodeURIComponent(id)}/adjustments`, {
        method: 'POST',
        headers: idempotencyKey('ops'),
        body: JSON.stringify({ amount_usd: valueOf('ops-amount').trim(), reason: valueOf('ops-reason'), ...(requestIds.length ? { request_ids: requestIds } : {}) }),
      });
      $('ops-adjust-status').textContent = `Posted ${entry.id || ''}.`;
      $<HTMLInputElement>('ops-amount').value = '';
      await openAccount(id);
      void search();
      void refreshHolds();
    } catch (err) {
      $('ops-adjust-status').textContent = errorText(err);
    }
  });
  onSubmit('ops-deposit', async () => {
    try {
      const d = await api('/admin/deposits/' + encodeURIComponent(valueOf('ops-deposit-id').trim()));
      const link = ` · workflow ${workflowLink(d.workflow_url, d.workflow_id)}`;
      $('ops-deposit-detail').innerHTML = `<p>${esc(d.id)} · ${esc(d.account_id)} · ${esc(d.method)} · $${esc(d.amount_usd)} · <span class="status-${esc(d.status)}">${esc(d.status)}</span>${link}</p>`;
    } catch (err) {
      $('ops-deposit-detail').textContent = errorText(err);
    }
  });
  $('ops-reconcile').addEventListener('click', async () => {
    try {
      const report = await api('/admin/reconcile', { method: 'POST' });
      $('ops-reconcile-report').textContent =
        (report.ok ? 'All invariants hold.\n' : 'INVARIANTS VIOLATED\n') + report.checks.map((c: any) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}`).join('\n');
    } catch (err) {
      $('ops-reconcile-report').textContent = errorText(err);
    }
  });
}
