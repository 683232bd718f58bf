/**
 * A deposit's life, in our words: creating → pending → (processing) → credited | failed | expired
 * | needs_review. The last four are final and sticky: nothing moves a deposit out of them.
 * Pure, so the workflow, the activities and the API share one definition.
 */
import type { PaymentOutcome } from './payment-gateway.js';

export type DepositStatus = 'creating' | 'pending' | 'processing' | 'credited' | 'failed' | 'expired' | 'needs_review';

export const FINAL_DEPOSIT_STATUSES: readonly DepositStatus[] = ['credited', 'failed', 'expired', 'needs_review'];

export const isFinalStatus = (s: string): boolean => (FINAL_DEPOSIT_STATUSES as readonly string[]).includes(s);

const BY_OUTCOME: Record<PaymentOutcome, DepositStatus> = {
  pending: 'pending',
  processing: 'processing',
  paid: 'credited',
  failed: 'failed',
  expired: 'expired',
  review: 'needs_review',
};

export const statusFor = (outcome: PaymentOutcome): DepositStatus => BY_OUTCOME[outcome];

/** What to credit: what the provider confirmed as received, never more than the deposit asked for. */
export const creditAmount = (requested: bigint, confirmed: bigint): bigint => (confirmed < requested ? confirmed : requested);
