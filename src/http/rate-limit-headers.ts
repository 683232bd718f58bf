import type { ServerResponse } from 'node:http';
import type { KeyWindows, RateWindow } from '../keys/rate-limit.js';

/**
 * A duration as Go's time.Duration prints it, which is what OpenAI's `x-ratelimit-reset-*`
 * headers carry: `12ms`, `1.574s`, `6m0s`, `1h0m0s`.
 */
export function goDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms));
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const seconds = ((total % 60_000) / 1000).toFixed(3).replace(/\.?0+$/, '');
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

export function rateLimitHeaders(w: RateWindow, unit: 'requests' | 'tokens' = 'requests'): Record<string, string> {
  return {
    [`x-ratelimit-limit-${unit}`]: String(w.limit),
    [`x-ratelimit-remaining-${unit}`]: String(w.remaining),
    [`x-ratelimit-reset-${unit}`]: goDuration(w.resetMs),
  };
}

export function setRateLimitHeaders(res: ServerResponse, windows: KeyWindows): void {
  const headers = {
    ...(windows.requests && rateLimitHeaders(windows.requests, 'requests')),
    ...(windows.tokens && rateLimitHeaders(windows.tokens, 'tokens')),
  };
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
}
