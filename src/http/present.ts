import type { Account, ApiKeyRecord } from '../accounts/repository.js';
import { formatUsd } from '../ledger/money.js';
import type { LedgerEntry } from '../ledger/types.js';

/** Unix seconds, the timestamp unit of OpenAI's and Stripe's objects. */
export const unix = (d: Date | null | undefined): number | null => (d ? Math.floor(d.getTime() / 1000) : null);

export function presentAccount(a: Account, keys?: ApiKeyRecord[]) {
  return {
    id: a.id,
    object: 'account',
    name: a.name,
    email: a.email,
    balance_usd: formatUsd(a.balance),
    held_usd: formatUsd(a.held),
    available_usd: formatUsd(a.balance - a.held),
    created_at: unix(a.createdAt),
    ...(keys ? { api_keys: keys.map(presentKey) } : {}),
  };
}

export function presentKey(k: ApiKeyRecord) {
  return {
    id: k.id,
    object: 'api_key' as const,
    name: k.name,
    prefix: k.prefix,
    manage: k.manage,
    limit_usd: k.spendLimit === null ? null : formatUsd(k.spendLimit),
    limit_reset: k.limitReset,
    models: k.models,
    rpm: k.rpm,
    tpm: k.tpm,
    expires_at: unix(k.expiresAt),
    created_at: unix(k.createdAt)!,
    last_used_at: unix(k.lastUsedAt),
    revoked_at: unix(k.revokedAt),
  };
}

export function presentEntry(e: LedgerEntry) {
  return {
    id: `le_${e.id}`,
    object: 'ledger_entry',
    account_id: e.accountId,
    kind: e.kind,
    amount_usd: formatUsd(e.amount),
    balance_after_usd: formatUsd(e.balanceAfter),
    reason: e.reason,
    actor: e.actor,
    request_ids: e.requestIds ?? [],
    request_id: e.requestId,
    deposit_id: e.depositId,
    generation_id: e.generationId,
    hold_id: e.holdId,
    created_at: unix(e.createdAt),
  };
}
