import { api, errorText } from './api.js';
import { wireCopy } from './copy.js';
import { $, onSubmit, valueOf } from './dom.js';

/**
 * The billing page's low-balance alert: a threshold and a webhook URL. The signing secret comes in
 * the answer to the first PUT only, so it is shown then, once, with a copy button.
 */

function showAlert(a: any) {
  $('alert-status').textContent = a.enabled
    ? `On: a balance.low event is posted to ${a.webhook_url} when available credit falls below $${a.threshold_usd}.`
    : 'No alert is set.';
  $('alert-delete').hidden = !a.enabled;
  if (a.enabled) {
    $<HTMLInputElement>('alert-threshold').value = a.threshold_usd;
    $<HTMLInputElement>('alert-url').value = a.webhook_url;
  }
}

// Whether the error shown is the last re-read's own. A re-read (the balance stream triggers one after any
// change) clears only that: the answer to the person's own submit stays until they act again.
let loadFailed = false;

function showError(text: string, fromLoad = false) {
  $('alert-error').textContent = text;
  loadFailed = fromLoad;
}

export async function refreshAlert() {
  try {
    showAlert(await api('/v1/billing/alerts'));
    if (loadFailed) showError('');
  } catch (e) {
    showError(errorText(e), true);
  }
}

export function clearAlert() {
  $('alert-status').textContent = '';
  $('alert-secret').hidden = true;
  $('alert-secret-value').textContent = '';
  $<HTMLFormElement>('alert').reset();
}

export function wireAlert() {
  onSubmit('alert', async () => {
    try {
      const a = await api('/v1/billing/alerts', {
        method: 'PUT',
        body: JSON.stringify({ threshold_usd: valueOf('alert-threshold').trim(), webhook_url: valueOf('alert-url').trim() }),
      });
      showError('');
      showAlert(a);
      if (a.secret) {
        $('alert-secret-value').textContent = a.secret;
        $('alert-copied').textContent = '';
        $('alert-secret').hidden = false;
      }
    } catch (e) {
      showError(errorText(e));
    }
  });
  wireCopy('alert-copy', 'alert-secret-value', 'alert-copied');
  $('alert-delete').addEventListener('click', async () => {
    if (!confirm('Remove the low-balance alert? Its signing secret is retired; a new alert gets a new one.')) return;
    try {
      await api('/v1/billing/alerts', { method: 'DELETE' });
      clearAlert();
      await refreshAlert();
    } catch (e) {
      showError(errorText(e));
    }
  });
}
