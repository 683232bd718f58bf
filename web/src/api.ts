/**
 * The console's calls: same-origin with the session cookie (httpOnly: no script here can read it)
 * and the session's CSRF token on state-changing requests. No API key ever reaches this page.
 */
let csrf = '';

export function useCsrfToken(token: string) {
  csrf = token;
}

export class ApiFailure extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export async function api<T = any>(path: string, init: RequestInit = {}): Promise<T> {
  const unsafe = init.method !== undefined && init.method !== 'GET';
  const res = await fetch(path, {
    ...init,
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', ...(unsafe ? { 'x-csrf-token': csrf } : {}), ...((init.headers as Record<string, string>) ?? {}) },
  });
  const body = res.status === 204 ? {} : await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiFailure(body.error ? body.error.message : `${res.status} ${res.statusText}`, res.status);
  return body as T;
}

/** A fresh idempotency key, so a double click cannot do a state change twice. */
export const idempotencyKey = (prefix: string) => ({ 'idempotency-key': `${prefix}-${crypto.randomUUID()}` });

export const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));
