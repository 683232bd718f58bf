/**
 * Account suspension: while `accounts.suspended_at` is set, every key of the account answers 403
 * account_suspended (src/http/auth.ts reads it with the key, so the check costs no extra query).
 * API processes see a change at once: a trigger announces the account's keys to every key cache
 * (migration 20261130_0730_api_key_changes, src/accounts/key-cache.ts).
 */
import type { Knex } from 'knex';

export interface Suspension {
  suspendedAt: Date;
  reason: string;
}

/** Suspends the account unless it already is (the first reason is kept). */
export async function suspendAccount(db: Knex, accountId: string, reason: string): Promise<void> {
  await db('accounts').where({ id: accountId }).whereNull('suspended_at').update({ suspended_at: db.fn.now(), suspension_reason: reason });
}

/** Lifts the suspension; true when the account was suspended. */
export async function liftSuspension(db: Knex, accountId: string): Promise<boolean> {
  const n = await db('accounts').where({ id: accountId }).whereNotNull('suspended_at').update({ suspended_at: null, suspension_reason: null });
  return n > 0;
}

export async function suspensionOf(db: Knex, accountId: string): Promise<Suspension | null> {
  const row = await db('accounts').select('suspended_at', 'suspension_reason').where({ id: accountId }).first();
  return row?.suspended_at ? { suspendedAt: row.suspended_at, reason: row.suspension_reason } : null;
}

/** What a suspended account's keys are told: why, and how to reach a person. */
export function suspensionMessage(supportContact: string): string {
  return `This account is suspended because a payment to it was disputed. Its API keys stay blocked until the dispute is settled; write to ${supportContact} to resolve it.`;
}
