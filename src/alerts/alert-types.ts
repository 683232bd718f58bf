// What crosses the Temporal boundary for a low-balance alert. Types only: workflow code imports
// this file. Amounts are decimal strings of nano-dollars, as for deposits (deposit-types.ts).

/** One crossing to announce. Fixed when the crossing is dispatched, so every retry sends the same event. */
export interface BalanceAlertInput {
  accountId: string;
  /** The crossing's number for this account (the event id and workflow id carry it). */
  seq: string;
  availableNano: string;
  thresholdNano: string;
  /** Unix seconds: when the balance fell below the threshold. */
  created: number;
  /** balance.low (the default), or auto_topup.failed: the saved card was declined and auto top-up stopped. */
  type?: 'balance.low' | 'auto_topup.failed';
  /** auto_topup.failed: the provider's decline code and message. */
  reason?: string;
}

export interface BalanceAlertResult {
  /** delivered: the receiver answered 2xx; not_configured: the alert was deleted before delivery; abandoned: retries ran out. */
  outcome: 'delivered' | 'not_configured' | 'abandoned';
  status?: number;
}
