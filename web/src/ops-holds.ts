import { api, errorText } from './api.js';
import { $, esc, fillRows } from './dom.js';
import { age, dollars, when } from './format.js';
import { workflowLink } from './workflow-link.js';

/**
 * The ops view's open holds (money set aside across accounts and not yet captured or released, oldest
 * first) and chat allowances (what API processes hold on accounts for their chat requests).
 */

const holdRow = (h: any) =>
  `<tr><td>${esc(h.id)}</td><td><a href="#" data-account="${esc(h.account_id)}">${esc(h.account_id)}</a></td><td>${esc(h.purpose)}</td>` +
  `<td>${esc(h.generation_id ?? h.request_id ?? '')}</td><td class="num">${dollars(h.amount_usd)}</td><td class="num">${age(h.age_seconds)}</td>` +
  `<td>${when(h.expires_at)}</td><td>${workflowLink(h.workflow_url, h.workflow_id)}</td></tr>`;

/** A process's chat allowance on an account; a lapsed lease is flagged, as the sweep will release it. */
const allowanceCells = (a: any) =>
  `<td>${esc(a.process ? `${a.process.host} pid ${a.process.pid}` : 'gone')}</td><td>${esc(a.lease_id)}</td><td class="num">${dollars(a.amount_usd)}</td>` +
  `<td${a.lapsed ? ' class="status-failed"' : ''}>${a.lapsed ? 'lapsed ' : ''}${when(a.lease_expires_at)}</td>`;

const allowanceRow = (a: any) => `<tr><td><a href="#" data-account="${esc(a.account_id)}">${esc(a.account_id)}</a></td>${allowanceCells(a)}</tr>`;

export async function refreshHolds() {
  try {
    const [list, allowances] = await Promise.all([api('/admin/holds?limit=100'), api('/admin/allowances?limit=100')]);
    fillRows('ops-holds', list.data.map(holdRow), 8, 'No open holds.');
    fillRows('ops-allowances', allowances.data.map(allowanceRow), 5, 'No chat allowances held.');
    $('ops-holds-error').textContent = '';
  } catch (e) {
    $('ops-holds-error').textContent = errorText(e);
  }
}

/** One account's open holds, deposits and generations, each deposit and generation linked to its workflow. */
export async function refreshAccountActivity(accountId: string) {
  const id = encodeURIComponent(accountId);
  try {
    const [holds, allowances, deposits, generations] = await Promise.all([
      api(`/admin/holds?account_id=${id}&limit=100`),
      api(`/admin/allowances?account_id=${id}&limit=100`),
      api(`/admin/accounts/${id}/deposits?limit=20`),
      api(`/admin/accounts/${id}/generations?limit=20`),
    ]);
    fillRows('ops-account-holds', holds.data.map(holdRow), 8, 'No open holds.');
    fillRows('ops-account-allowances', allowances.data.map((a: any) => `<tr>${allowanceCells(a)}</tr>`), 4, 'No chat allowances held.');
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
