/**
 * The /v1 endpoints a signed-in console customer may call with the session cookie instead of an
 * API key: their own balance, usage, deposits, support requests, alert, saved-card and auto
 * top-up settings, generations, the price list, and the account's keys (the person who owns the
 * account manages its keys). State changes are CSRF-checked by console-session.ts. Everything that spends (chat, images, videos, embeddings) stays behind an
 * API key, so a key's limits and allow-lists keep meaning what they say.
 */
const CONSOLE_ENDPOINTS: readonly (readonly [method: string, path: RegExp])[] = [
  ['GET', /^\/v1\/dashboard\/billing\/credit_grants$/],
  ['GET', /^\/v1\/credits$/],
  ['GET', /^\/v1\/billing\/(usage|usage\/models|deposits|deposits\/[^/]+|support)$/],
  ['POST', /^\/v1\/billing\/(deposits|support)$/],
  ['GET', /^\/v1\/billing\/alerts$/],
  ['PUT', /^\/v1\/billing\/alerts$/],
  ['DELETE', /^\/v1\/billing\/alerts$/],
  ['GET', /^\/v1\/billing\/payment-method$/],
  ['DELETE', /^\/v1\/billing\/payment-method$/],
  ['GET', /^\/v1\/billing\/auto-topup$/],
  ['PUT', /^\/v1\/billing\/auto-topup$/],
  ['DELETE', /^\/v1\/billing\/auto-topup$/],
  ['GET', /^\/v1\/videos(\/[^/]+(\/content)?)?$/],
  ['GET', /^\/v1\/images$/],
  ['GET', /^\/v1\/models(\/[^/]+)?$/],
  ['GET', /^\/v1\/keys$/],
  ['POST', /^\/v1\/keys$/],
  ['PATCH', /^\/v1\/keys\/[^/]+$/],
  ['DELETE', /^\/v1\/keys\/[^/]+$/],
];

export function consoleMayCall(method: string, path: string): boolean {
  const p = path.replace(/\/+$/, '');
  return CONSOLE_ENDPOINTS.some(([m, re]) => m === method && re.test(p));
}
