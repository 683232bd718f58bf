import { api, errorText } from './api.js';
import { $, esc, fillRows } from './dom.js';
import { age, dollars, when } from './format.js';
import { workflowLink } from './workflow-link.js';

/** The ops view's open holds: money set aside across accounts and not yet captured or released, oldest first. */

const holdRow = (h: any) =>
  `<tr><td>${esc(h.id)}</td><td><a href="#" data-account="${esc(h.account_id)}">${esc(h.account_id)}</a></td><td>${esc(h.purpose)}</td>` +
  `<td>${esc(h.generation_id ?? h.request_id ?? '')}</td><td class="num">${dollars(h.amount_usd)}</td><td class="num">${age(h.age_seconds)}</td>` +
  `<td>${when(h.expires_at)}</td><td>${workflowLink(h.workflow_url, h.workflow_id)}</td></tr>`;

export async function refreshHolds() {
  try {
    const list = await api('/admin/holds?limit=100');
    fillRows('ops-holds', list.data.map(holdRow), 8, 'No open holds.');
    $('ops-holds-error').textContent = '';
  } catch (e) {
    $('ops-holds-error').textContent = errorText(e);
  }
}

/** One account's open holds, deposits and generations, each deposit and generation linked to its workflow. */
export async function refreshAccountActivity(accountId: string) {
  const id = encodeURIComponent(accountId);
  try {
    const [holds, deposits, generations] = await Promise.all([
      api(`/admin/holds?account_id=${id}&limit=100`),
      api(`/admin/accounts/${id}/deposits?limit=20`),
      api(`/admin/accounts/${id}/generations?limit=20`),
    ]);
    fillRows('ops-account-holds', holds.data.map(holdRow), 8, 'No open holds.');
    fillRows(
      'ops-account-deposits',
      deposits.data.map(
        (d: any) =>
          `<tr><td>${esc(d.id)}</td><td>${esc(d.method)}</td><td class="num">${dollars(d.amount_usd)}</td><td class="status-${esc(d.status)}">${esc(d.status)}</td><td>${when(d.created_at)}</td><td>${workflowLink(d.workflow_url, d.workflow_id)}</td></tr>`,
      ),
      6,
      'No deposits.',
    );
    fillRows(
      'ops-account-generations',
      generations.data.map(
        (g: any) =>
          `<tr><td>${esc(g.id)}</td><td>${esc(g.kind)}</td><td>${esc(g.model)}</td><td class="status-${esc(g.status)}">${esc(g.status)}</td><td class="num">${dollars(g.cost_usd)}</td><td>${when(g.created_at)}</td><td>${workflowLink(g.workflow_url, g.workflow_id)}</td></tr>`,
      ),
      7,
      'No generations.',
    );
    $('ops-activity-error').textContent = '';
  } catch (e) {
    $('ops-activity-error').textContent = errorText(e);
  }
}
