// What crosses the Temporal boundary for an auto top-up. Types only: workflow code imports this
// file. Amounts are decimal strings of nano-dollars (deposit-types.ts).
import type { BalanceAlertInput } from '../alerts/alert-types.js';

/** The crossing that asks for the top-up (the same fields as its alert). */
export type AutoTopupInput = BalanceAlertInput;

/** The deposit opened for the crossing, and the card it charges (fixed once, so retries charge the same). */
export interface AutoTopupDeposit {
  depositId: string;
  amountNano: string;
  customerRef: string;
  paymentMethodRef: string;
}

export type AutoTopupCharge =
  | { outcome: 'succeeded'; paymentRef: string; amountNano: string; receiptUrl: string | null }
  | { outcome: 'declined'; paymentRef: string | null; code: string; message: string }
  | { outcome: 'pending'; paymentRef: string; status: string };

export interface AutoTopupResult {
  /** skipped: auto top-up was off (removed, disabled, no card) or the account had too many open deposits. */
  outcome: 'credited' | 'declined' | 'pending' | 'skipped';
  depositId?: string;
}
