/**
 * The low-balance alert's one I/O step: POST the signed event to the customer's URL. A non-2xx
 * answer or a network failure throws, and the workflow's retry policy tries again with backoff;
 * a URL the policy refuses (it now resolves to a private address) fails for good.
 */
import http from 'node:http';
import https from 'node:https';
import { ApplicationFailure } from '@temporalio/activity';
import { formatUsd } from '../ledger/money.js';
import type { Services } from '../services.js';
import { alertDeps, alertTarget } from './alert-settings.js';
import { SIGNATURE_HEADER, signatureHeader } from './alert-signature.js';
import type { BalanceAlertInput, BalanceAlertResult } from './alert-types.js';
import { safeLookup, WebhookUrlRefused, type WebhookUrlPolicy } from './webhook-url.js';

const TIMEOUT_MS = 10_000;

/** The event's JSON, the same bytes on every attempt. */
export function balanceLowEvent(x: BalanceAlertInput): string {
  const type = x.type ?? 'balance.low';
  return JSON.stringify({
    id: `evt_${type.replace('.', '_')}_${x.accountId}_${x.seq}`,
    type,
    account_id: x.accountId,
    available_usd: formatUsd(BigInt(x.availableNano)),
    threshold_usd: formatUsd(BigInt(x.thresholdNano)),
    ...(x.reason !== undefined ? { reason: x.reason } : {}),
    created: x.created,
  });
}

export function createAlertActivities(services: Pick<Services, 'db' | 'config' | 'adminToken' | 'logger'>) {
  const deps = alertDeps(services.db, services.config, services.adminToken);
  return {
    async deliverBalanceAlert(x: BalanceAlertInput): Promise<BalanceAlertResult> {
      const target = await alertTarget(deps, x.accountId);
      if (!target) return { outcome: 'not_configured' };
      const body = balanceLowEvent(x);
      const signature = signatureHeader(target.secret, body, Math.floor(Date.now() / 1000));
      try {
        const status = await post(target.webhookUrl, body, signature, deps.policy);
        if (status < 200 || status >= 300) throw new Error(`the alert webhook answered HTTP ${status}`);
        return { outcome: 'delivered', status };
      } catch (err) {
        if (err instanceof WebhookUrlRefused) throw ApplicationFailure.nonRetryable(err.message, 'WebhookUrlRefused');
        throw err;
      }
    },
  };
}

function post(url: string, body: string, signature: string, policy: WebhookUrlPolicy): Promise<number> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(
      u,
      {
        method: 'POST',
        lookup: safeLookup(policy),
        timeout: TIMEOUT_MS,
        headers: { 'content-type': 'application/json', 'user-agent': 'Cheapa-Webhooks/1', [SIGNATURE_HEADER]: signature },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('the alert webhook did not answer in time')));
    req.on('error', (err) => reject(err instanceof WebhookUrlRefused || (err as { cause?: unknown }).cause instanceof WebhookUrlRefused ? new WebhookUrlRefused(err.message) : err));
    req.end(body);
  });
}
