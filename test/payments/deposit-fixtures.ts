/** Shared steps of the deposit integration tests: the service with its embedded sandboxes. */
import { expect } from 'vitest';
import { depositResult } from '../../src/payments/deposit-client.js';
import type { DepositResult } from '../../src/payments/deposit-types.js';
import { startHarness, type Harness } from '../support/harness.js';

export interface DepositTiming {
  ttlSeconds?: number;
  pollSeconds?: number;
  graceSeconds?: number;
}

export function startDepositHarness(t: DepositTiming = {}): Promise<Harness> {
  return startHarness({
    env: {
      DEPOSIT_CHECKOUT_TTL: String(t.ttlSeconds ?? 3600),
      // Long by default, so a test sees webhooks at work, not the polling fallback.
      DEPOSIT_POLL_INTERVAL: String(t.pollSeconds ?? 3600),
      DEPOSIT_SETTLE_GRACE: String(t.graceSeconds ?? 3600),
    },
  });
}

export const stripeSandbox = (h: Harness) => h.services.sandboxes.running().stripe!;
export const cryptomusSandbox = (h: Harness) => h.services.sandboxes.running().cryptomus!;

export interface DepositJson {
  id: string;
  status: string;
  method: string;
  amount_usd: string;
  credited_usd: string | null;
  checkout_url: string | null;
  expires_at: number;
  status_history: Array<{ status: string; source: string; outcome: string | null; provider_status: string | null; event_id: string; amount_usd: string | null }>;
}

export async function createDeposit(h: Harness, key: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<DepositJson> {
  const res = await h.call('POST', '/v1/billing/deposits', { key, body, headers });
  const json = await res.json();
  expect(res.status, JSON.stringify(json)).toBe(201);
  return json;
}

export async function getDeposit(h: Harness, key: string, id: string): Promise<DepositJson> {
  const res = await h.call('GET', `/v1/billing/deposits/${id}`, { key });
  expect(res.status).toBe(200);
  return res.json();
}

/** The deposit workflow's own result: resolves when the deposit has ended, however it ended. */
export function depositOutcome(h: Harness, depositId: string): Promise<DepositResult> {
  return depositResult(h.services, depositId);
}

/** The account's deposit credits in the ledger. */
export async function depositEntries(h: Harness, accountId: string): Promise<Array<{ amount: bigint; deposit_id: string }>> {
  return h.services.db('ledger_entries').where({ account_id: accountId, kind: 'deposit' }).select('amount', 'deposit_id');
}

export const balanceOf = async (h: Harness, accountId: string): Promise<bigint> => (await h.services.ledger.balance(accountId)).balance;

/** The sandbox webhooks about one checkout (session id / invoice uuid), oldest first. */
export function webhooksFor(list: ReadonlyArray<{ id: string; body: string }>, providerRef: string) {
  return list.filter((w) => w.body.includes(providerRef));
}

export const USD = 1_000_000_000n;
