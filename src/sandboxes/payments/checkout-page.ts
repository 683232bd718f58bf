/**
 * The hosted payment page of a sandbox provider: what the checkout URL shows a person. Each button
 * posts back to the sandbox, which changes the payment and sends the signed webhook, exactly as
 * the real provider's page would after a real payment.
 */

export interface CheckoutPageAction {
  value: string;
  label: string;
  hint: string;
}

export interface CheckoutPage {
  provider: string;
  title: string;
  amount: string;
  details: ReadonlyArray<readonly [string, string]>;
  /** Null once the payment can no longer be acted on. */
  actions: readonly CheckoutPageAction[] | null;
  formAction: string;
  notice?: string;
}

const escape = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function renderCheckoutPage(page: CheckoutPage): string {
  const rows = page.details.map(([k, v]) => `<tr><th>${escape(k)}</th><td>${escape(v)}</td></tr>`).join('');
  const actions = page.actions
    ? `<form method="post" action="${escape(page.formAction)}">${page.actions
        .map(
          (a) =>
            `<button name="action" value="${escape(a.value)}" type="submit">${escape(a.label)}</button><small>${escape(a.hint)}</small>`,
        )
        .join('')}</form>`
    : '<p class="closed">This payment is closed.</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escape(page.title)}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1d1d1f}
.banner{background:#fff4d6;border:1px solid #e8c66a;padding:.5rem .75rem;border-radius:6px;font-size:13px}
h1{font-size:1.25rem}.amount{font-size:2rem;font-weight:600;margin:.5rem 0 1rem}
table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}th,td{text-align:left;padding:.25rem 0;border-bottom:1px solid #eee}
th{color:#666;font-weight:400;width:40%}form{display:grid;gap:.35rem}
button{font:inherit;padding:.6rem;border-radius:6px;border:1px solid #bbb;background:#fafafa;cursor:pointer}
button:first-of-type{background:#1d1d1f;color:#fff;border-color:#1d1d1f}small{color:#666;margin:0 0 .6rem .2rem}
.closed{color:#666}
</style></head><body>
<p class="banner">${escape(page.provider)} sandbox: no real money moves. This page stands in for the provider's hosted checkout.</p>
<h1>${escape(page.title)}</h1>
<div class="amount">${escape(page.amount)}</div>
${page.notice ? `<p>${escape(page.notice)}</p>` : ''}
<table>${rows}</table>
${actions}
</body></html>`;
}
