import { api, errorText, idempotencyKey } from './api.js';
import { $, esc, fillRows, onSubmit, valueOf } from './dom.js';
import { when } from './format.js';

/** The billing page: top up by tier and method, follow deposits, ask support for another amount. */

/**
 * Deposits are followed live, not polled: the balance stream also fires when one of the account's
 * deposits changes (opened, paid, credited, failed, expired, its receipt recorded) and when its
 * saved card or auto top-up does (migration 1200), and every page re-reads then.
 */

export function clearBilling() {
  $('deposits').innerHTML = '';
}

export async function refreshDeposits() {
  try {
    const deps = await api('/v1/billing/deposits?limit=10');
    fillRows(
      'deposits',
      deps.data.map(
        (d: any) =>
          `<tr><td>${esc(d.id)}</td><td>${esc(d.method)}${d.coin ? ' ' + esc(d.coin) : ''}${d.save_card ? ' <span class="muted">(saves card)</span>' : ''}</td><td class="num">$${esc(d.amount_usd)}</td><td class="status-${esc(d.status)}">${esc(d.status)}</td><td>${when(d.created_at)}</td><td>${d.checkout_url ? `<a href="${esc(d.checkout_url)}" target="_blank" rel="noopener">pay</a>` : ''}</td><td>${d.receipt_url ? `<a href="${esc(d.receipt_url)}" target="_blank" rel="noopener" aria-label="Receipt for ${esc(d.id)}">receipt</a>` : ''}</td></tr>`,
      ),
      7,
      'No deposits yet.',
    );
    $('topup-error').textContent = '';
  } catch (e) {
    $('topup-error').textContent = errorText(e);
  }
}

export function wireBilling(changed: () => void) {
  // Only a card can be saved (the API refuses save_card on crypto).
  $('method').addEventListener('change', () => {
    const card = valueOf('method') === 'card';
    $<HTMLInputElement>('save-card').disabled = !card;
    if (!card) $<HTMLInputElement>('save-card').checked = false;
  });
  onSubmit('topup', async () => {
    const [method, coin] = valueOf('method').split(':');
    const saveCard = method === 'card' && $<HTMLInputElement>('save-card').checked;
    try {
      const d = await api('/v1/billing/deposits', {
        method: 'POST',
        headers: idempotencyKey('console'),
        body: JSON.stringify({ tier: valueOf('tier'), method, ...(coin ? { coin } : {}), ...(saveCard ? { save_card: true } : {}) }),
      });
      $('topup-error').textContent = '';
      if (d.checkout_url) window.open(d.checkout_url, '_blank', 'noopener');
      changed();
    } catch (err) {
      $('topup-error').textContent = errorText(err);
    }
  });
  onSubmit('support', async () => {
    try {
      const r = await api('/v1/billing/support', {
        method: 'POST',
        body: JSON.stringify({ kind: 'custom_amount', amount_usd: valueOf('support-amount').trim(), message: valueOf('support-message') }),
      });
      $('support-status').textContent = `Request ${r.id} recorded (${r.status}); ops will follow up with a checkout for that amount.`;
    } catch (err) {
      $('support-status').textContent = errorText(err);
    }
  });
}
