import { api, errorText } from './api.js';
import { wireCopy } from './copy.js';
import { $, esc, fillRows, onSubmit, valueOf } from './dom.js';
import { when } from './format.js';

/**
 * The keys page, from the session (the account's person manages its keys): create with name,
 * limit, models and rate limits (the secret is shown once, with a copy button), revoke, and what
 * each key has spent (the usage report grouped by key).
 */

function optionalNumber(id: string): number | undefined {
  const v = valueOf(id).trim();
  return v ? Number(v) : undefined;
}

export async function refreshKeys() {
  try {
    const [keys, spend] = await Promise.all([api('/v1/keys'), api('/v1/billing/usage?group_by=key')]);
    const spent = new Map<string, string>(spend.data.map((b: any) => [b.api_key_id, b.cost_usd]));
    fillRows(
      'keys',
      keys.data.map(
        (k: any) =>
          `<tr data-key="${esc(k.id)}"><td>${esc(k.name)}${k.manage ? ' <span class="muted">(manages keys)</span>' : ''}</td><td><code>${esc(k.prefix)}…</code></td><td class="num">${esc(spent.get(k.id) ?? '0.00')}</td><td class="num">${k.limit_usd === null ? '' : `$${esc(k.limit_usd)}${k.limit_reset ? ' ' + esc(k.limit_reset) : ''}`}</td><td>${esc((k.models ?? []).join(', ') || 'all')}</td><td class="num">${k.rpm ?? ''}</td><td class="num">${k.tpm ?? ''}</td><td>${when(k.created_at)}</td><td><button type="button" class="secondary" data-revoke="${esc(k.id)}" aria-label="Revoke ${esc(k.name)}">Revoke</button></td></tr>`,
      ),
      9,
      'No active keys.',
    );
    $('key-error').textContent = '';
  } catch (e) {
    $('key-error').textContent = errorText(e);
  }
}

export function clearKeys() {
  $('keys').innerHTML = '';
  $('key-secret').hidden = true;
  $('key-secret-value').textContent = '';
}

export function wireKeys() {
  onSubmit('key-create', async () => {
    const limit = valueOf('key-limit').trim();
    const models = valueOf('key-models').split(',').map((m) => m.trim()).filter(Boolean);
    const body = {
      name: valueOf('key-name'),
      ...(limit ? { limit_usd: limit } : {}),
      ...(limit && valueOf('key-reset') ? { limit_reset: valueOf('key-reset') } : {}),
      ...(models.length ? { models } : {}),
      ...(optionalNumber('key-rpm') !== undefined ? { rpm: optionalNumber('key-rpm') } : {}),
      ...(optionalNumber('key-tpm') !== undefined ? { tpm: optionalNumber('key-tpm') } : {}),
    };
    try {
      const created = await api('/v1/keys', { method: 'POST', body: JSON.stringify(body) });
      $('key-secret-value').textContent = created.key;
      $('key-copied').textContent = '';
      $('key-secret').hidden = false;
      $<HTMLFormElement>('key-create').reset();
      $('key-error').textContent = '';
      await refreshKeys();
    } catch (e) {
      $('key-error').textContent = errorText(e);
    }
  });
  wireCopy('key-copy', 'key-secret-value', 'key-copied');
  $('keys').addEventListener('click', async (e) => {
    const id = (e.target as HTMLElement).dataset?.revoke;
    if (!id) return;
    const name = (e.target as HTMLElement).closest('tr')?.querySelector('td')?.textContent ?? id;
    if (!confirm(`Revoke the key "${name}"? Programs using it stop working at once.`)) return;
    try {
      await api('/v1/keys/' + encodeURIComponent(id), { method: 'DELETE' });
      await refreshKeys();
    } catch (err) {
      $('key-error').textContent = errorText(err);
    }
  });
}
