import { api, errorText } from './api.js';
import { barChart, type Bar } from './chart.js';
import { $, esc, fillRows, onSubmit, valueOf } from './dom.js';
import { when } from './format.js';

/**
 * The usage page: spend per UTC day (or hour, for a range of two days or less) over a date range,
 * filtered by key and model; the period's per-model totals; the period's requests page by page;
 * the same selection as a CSV download (GET /v1/billing/usage?format=csv).
 */

const DAY = 86_400_000;
const isoDay = (d: Date) => d.toISOString().slice(0, 10);

interface Selection {
  from: string;
  to: string;
  model: string;
  key: string;
}

let keyNames = new Map<string, string>();
/** `after` cursors of the pages seen, so "Newer" goes back exactly. */
let cursors: (string | undefined)[] = [undefined];
let lastId: string | null = null;
/** Answers can come back out of order (a click while the ledger moves): only the latest is shown. */
let requestsAsked = 0;
let periodAsked = 0;

function selection(): Selection {
  return { from: valueOf('usage-from'), to: valueOf('usage-to'), model: valueOf('usage-model'), key: valueOf('usage-key') };
}

const dayStart = (day: string) => Date.parse(`${day}T00:00:00Z`);

/** The selection as API query parameters: whole UTC days in unix seconds, `to` inclusive on screen. */
function params(s: Selection, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams({ start_time: String(dayStart(s.from) / 1000), end_time: String((dayStart(s.to) + DAY) / 1000), ...extra });
  if (s.model) q.set('model', s.model);
  if (s.key) q.set('api_key_id', s.key);
  return q.toString();
}

function bars(s: Selection, data: any[], byHour: boolean): Bar[] {
  const size = byHour ? DAY / 24 : DAY;
  const cost = new Map<number, number>(data.map((b) => [b.start_time * 1000, Number(b.cost_usd)]));
  const out: Bar[] = [];
  const end = dayStart(s.to) + DAY;
  for (let t = dayStart(s.from); t < end; t += size) {
    out.push({ label: byHour ? new Date(t).toISOString().slice(11, 16) : isoDay(new Date(t)).slice(5), value: cost.get(t) ?? 0 });
  }
  return out;
}

const usd = (v: number) => '$' + (v >= 1 || v === 0 ? v.toFixed(2) : v.toPrecision(2));

async function showRequests(s: Selection) {
  const after = cursors.at(-1);
  const asked = ++requestsAsked;
  const page = await api('/v1/billing/usage?' + params(s, { limit: '20', ...(after ? { after } : {}) }));
  if (asked !== requestsAsked) return;
  fillRows(
    'usage-requests',
    page.data.map((r: any) => `<tr><td>${esc(r.id)}</td><td>${when(r.created_at)}</td><td>${esc(keyNames.get(r.api_key_id) ?? r.api_key_id ?? '')}</td><td>${esc(r.model)}</td><td class="status-${esc(r.status)}">${esc(r.status)}</td><td class="num">${r.prompt_tokens ?? ''}</td><td class="num">${r.completion_tokens ?? ''}</td><td class="num">${esc(r.cost_usd)}</td></tr>`),
    8,
    'No requests in this period.',
  );
  lastId = page.last_id;
  $<HTMLButtonElement>('usage-next').disabled = !page.has_more;
  $<HTMLButtonElement>('usage-prev').disabled = cursors.length <= 1;
  $('usage-page').textContent = page.data.length ? `Page ${cursors.length}` : '';
}

async function show() {
  const s = selection();
  try {
    if (!s.from || !s.to || s.to < s.from) throw new Error('Choose a start date on or before the end date.');
    const byHour = dayStart(s.to) - dayStart(s.from) < 2 * DAY;
    const asked = ++periodAsked;
    const [buckets, models] = await Promise.all([
      api('/v1/billing/usage?' + params(s, { group_by: byHour ? 'hour' : 'day' })),
      api('/v1/billing/usage/models?' + params(s)),
      showRequests(s),
    ]);
    if (asked !== periodAsked) return;
    $('usage-chart').replaceChildren(barChart(bars(s, buckets.data, byHour), usd));
    $('usage-chart').setAttribute('aria-label', `Spend per ${byHour ? 'hour' : 'day'}, ${s.from} to ${s.to}`);
    $('usage-total').textContent = `${models.total.requests} requests, $${models.total.cost_usd} in the period.`;
    fillRows('usage-models', models.data.map((m: any) => `<tr><td>${esc(m.model)}</td><td class="num">${m.requests}</td><td class="num">${m.failed_requests}</td><td class="num">${m.prompt_tokens}</td><td class="num">${m.completion_tokens}</td><td class="num">${esc(m.cost_usd)}</td></tr>`), 6, 'No usage in this period.');
    $<HTMLAnchorElement>('usage-csv').href = '/v1/billing/usage?' + params(s, { format: 'csv' });
    $('usage-error').textContent = '';
  } catch (e) {
    $('usage-error').textContent = errorText(e);
  }
}

/** The filter choices: the account's keys and the models it has used. */
async function loadChoices() {
  const [keys, models] = await Promise.all([api('/v1/keys'), api('/v1/billing/usage/models')]);
  keyNames = new Map(keys.data.map((k: any) => [k.id, k.name]));
  const fill = (id: string, all: string, options: [string, string][]) => {
    const chosen = valueOf(id);
    $(id).innerHTML = `<option value="">${esc(all)}</option>` + options.map(([v, label]) => `<option value="${esc(v)}">${esc(label)}</option>`).join('');
    $<HTMLSelectElement>(id).value = options.some(([v]) => v === chosen) ? chosen : '';
  };
  fill('usage-key', 'All keys', keys.data.map((k: any) => [k.id, `${k.name} (${k.prefix}…)`]));
  fill('usage-model', 'All models', models.data.filter((m: any) => m.model).map((m: any) => [m.model, m.model]));
}

export async function refreshUsage() {
  if (!valueOf('usage-from')) {
    const today = new Date();
    $<HTMLInputElement>('usage-from').value = isoDay(new Date(today.getTime() - 29 * DAY));
    $<HTMLInputElement>('usage-to').value = isoDay(today);
  }
  await loadChoices().catch((e) => ($('usage-error').textContent = errorText(e)));
  await show();
}

export function wireUsage() {
  onSubmit('usage-filters', () => {
    cursors = [undefined];
    return show();
  });
  $('usage-next').addEventListener('click', () => {
    if (!lastId) return;
    cursors.push(lastId);
    void showRequests(selection()).catch((e) => ($('usage-error').textContent = errorText(e)));
  });
  $('usage-prev').addEventListener('click', () => {
    if (cursors.length > 1) cursors.pop();
    void showRequests(selection()).catch((e) => ($('usage-error').textContent = errorText(e)));
  });
}

export function clearUsage() {
  for (const id of ['usage-requests', 'usage-models', 'usage-total', 'usage-chart']) $(id).replaceChildren();
  $<HTMLInputElement>('usage-from').value = '';
  cursors = [undefined];
}
