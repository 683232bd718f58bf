import { api, errorText } from './api.js';
import { $, esc, onSubmit, valueOf } from './dom.js';
import { when } from './format.js';

/**
 * The billing page's saved card (kept when a card top-up asked to save it) and auto top-up, which
 * charges that card and so is offered only while there is one.
 */

function showCard(pm: any) {
  $('card-summary').innerHTML = pm.saved
    ? `<strong>${esc(pm.brand)}</strong> ending in <code>${esc(pm.last4)}</code> <span class="muted">saved ${when(pm.saved_at)}</span>`
    : '<span class="muted">No saved card. Tick “Save this card for auto top-up” on a card top-up to keep one.</span>';
  $('card-forget').hidden = !pm.saved;
  $('autotopup').hidden = !pm.saved;
}

function showAutoTopup(a: any, cardSaved: boolean) {
  const status = a.enabled
    ? `On: the saved card is charged the ${a.tier} tier when available credit falls below $${a.threshold_usd}.`
    : a.disabled_reason
      ? `Off: stopped ${when(a.disabled_at)} because the card was refused (${a.disabled_reason}). Turn it on again to retry with the saved card.`
      : cardSaved
        ? 'Off.'
        : 'Needs a saved card.';
  $('autotopup-status').textContent = status;
  $('autotopup-off').hidden = !a.enabled;
  $('autotopup-save').textContent = a.enabled ? 'Save' : 'Turn on';
  if (a.enabled) {
    $<HTMLInputElement>('autotopup-threshold').value = a.threshold_usd;
    $<HTMLSelectElement>('autotopup-tier').value = a.tier;
  }
}

export async function refreshSavedCard() {
  try {
    const [pm, auto] = await Promise.all([api('/v1/billing/payment-method'), api('/v1/billing/auto-topup')]);
    showCard(pm);
    showAutoTopup(auto, pm.saved);
    $('card-error').textContent = '';
  } catch (e) {
    $('card-error').textContent = errorText(e);
  }
}

export function clearSavedCard() {
  $('card-summary').textContent = '–';
  $('card-forget').hidden = true;
  $('autotopup').hidden = true;
  $('autotopup-status').textContent = '';
}

export function wireSavedCard() {
  $('card-forget').addEventListener('click', async () => {
    if (!confirm('Forget the saved card? Auto top-up stops with it.')) return;
    try {
      await api('/v1/billing/payment-method', { method: 'DELETE' });
      await refreshSavedCard();
    } catch (e) {
      $('card-error').textContent = errorText(e);
    }
  });
  onSubmit('autotopup', async () => {
    try {
      const a = await api('/v1/billing/auto-topup', {
        method: 'PUT',
        body: JSON.stringify({ threshold_usd: valueOf('autotopup-threshold').trim(), tier: valueOf('autotopup-tier') }),
      });
      $('autotopup-error').textContent = '';
      showAutoTopup(a, true);
    } catch (e) {
      $('autotopup-error').textContent = errorText(e);
    }
  });
  $('autotopup-off').addEventListener('click', async () => {
    try {
      await api('/v1/billing/auto-topup', { method: 'DELETE' });
      $('autotopup-error').textContent = '';
      await refreshSavedCard();
    } catch (e) {
      $('autotopup-error').textContent = errorText(e);
    }
  });
}
