import { api, errorText, idempotencyKey } from './api.js';
import { $, esc, fillRows, onSubmit, valueOf } from './dom.js';
import { when } from './format.js';

/** The billing page: top up by tier and method, follow deposits, ask support for another amount. */

export function clearBilling() {
  $('deposits').innerHTML = '';
  shown = [];
  clearTimeout(followUp);
}

let shown: any[] = [];

export async function refreshDeposits() {
  try {
    const deps = await api('/v1/billing/deposits?limit=10');
    shown = deps.data;
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

/**
 * A card deposit's receipt link, and the card it saves, are recorded just after its credit, so the
 * re-read that the credit's balance event triggers can come too early. While a card deposit
 * credited within the hour lacks them, read again a second later: at most a few times per deposit.
 */
const LOOKS_PER_DEPOSIT = 10;
const looks = new Map<string, number>();
let followUp: ReturnType<typeof setTimeout> | undefined;

const lacksDetails = (d: any, savedCardDeposit: string | null | undefined) =>
  d.method === 'card' &&
  d.status === 'credited' &&
  Date.now() / 1000 - d.created_at < 3600 &&
  (!d.receipt_url || (d.save_card && savedCardDeposit !== undefined && savedCardDeposit !== d.id));

/** savedCardDeposit: the saved card's deposit as shown (null: none), undefined when the card is not on screen. */
export function followPaymentDetails(savedCardDeposit: string | null | undefined, again: () => unknown) {
  clearTimeout(followUp);
  const waiting = shown.filter((d) => lacksDetails(d, savedCardDeposit) && (looks.get(d.id) ?? 0) < LOOKS_PER_DEPOSIT);
  if (!waiting.length) return;
  for (const d of waiting) looks.set(d.id, (looks.get(d.id) ?? 0) + 1);
  followUp = setTimeout(again, 1000);
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
