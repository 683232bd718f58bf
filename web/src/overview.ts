import { api, ApiFailure, errorText } from './api.js';
import { $, esc, fillRows } from './dom.js';
import { money, when } from './format.js';

/** The overview page: totals, usage by model, the last requests and videos. */

const FIGURES = ['available', 'held', 'granted', 'used'];
const TABLES = ['models', 'requests', 'videos'];

export function clearOverview() {
  for (const id of FIGURES) $(id).textContent = '–';
  for (const id of TABLES) $(id).innerHTML = '';
}

/** Reads the overview's figures and tables; throws ApiFailure 401 when the session has ended. */
export async function refreshOverview() {
  const [grants, models, reqs, vids] = await Promise.allSettled([
    api('/v1/dashboard/billing/credit_grants'),
    api('/v1/billing/usage/models'),
    api('/v1/billing/usage?limit=20'),
    api('/v1/videos?limit=10'),
  ]);
  if (grants.status === 'rejected' && grants.reason instanceof ApiFailure && grants.reason.status === 401) throw grants.reason;
  if (grants.status === 'fulfilled') {
    $('granted').textContent = money(grants.value.total_granted);
    $('used').textContent = money(grants.value.total_used);
  }
  const failed = [grants, models, reqs, vids].find((r) => r.status === 'rejected');
  $('balance-error').textContent = failed ? errorText(failed.reason) : '';
  if (models.status === 'fulfilled') {
    fillRows('models', models.value.data.map((m: any) => `<tr><td>${esc(m.model)}</td><td class="num">${m.requests}</td><td class="num">${m.failed_requests}</td><td class="num">${m.prompt_tokens}</td><td class="num">${m.completion_tokens}</td><td class="num">${esc(m.cost_usd)}</td></tr>`), 6, 'No usage yet.');
  }
  if (reqs.status === 'fulfilled') {
    fillRows('requests', reqs.value.data.map((r: any) => `<tr><td>${esc(r.id)}</td><td>${when(r.created_at)}</td><td>${esc(r.model)}</td><td class="status-${esc(r.status)}">${esc(r.status)}</td><td class="num">${r.prompt_tokens ?? ''}</td><td class="num">${r.completion_tokens ?? ''}</td><td class="num">${esc(r.cost_usd)}</td></tr>`), 7, 'No requests yet.');
  }
  if (vids.status === 'fulfilled') {
    fillRows('videos', vids.value.data.map((v: any) => `<tr><td>${esc(v.id)}</td><td>${esc(v.model)}</td><td class="status-${esc(v.status)}">${esc(v.status)}</td><td class="num">${v.progress ?? 0}%</td><td>${when(v.created_at)}</td></tr>`), 5, 'No videos yet.');
  }
}
