export type EntryKind = 'deposit' | 'usage' | 'generation_capture' | 'adjustment';
export type HoldStatus = 'pending' | 'captured' | 'released' | 'expired';
export type HoldPurpose = 'chat' | 'generation';

export interface LedgerEntry {
  id: bigint;
  accountId: string;
  kind: EntryKind;
  amount: bigint;
  balanceAfter: bigint;
  idempotencyKey: string;
  requestId: string | null;
  depositId: string | null;
  generationId: string | null;
  holdId: string | null;
  reason: string | null;
  actor: string | null;
  requestIds: string[] | null;
  createdAt: Date;
}

export interface Hold {
  id: string;
  accountId: string;
  amount: bigint;
  status: HoldStatus;
  capturedAmount: bigint | null;
  purpose: HoldPurpose;
  requestId: string | null;
  generationId: string | null;
  idempotencyKey: string;
  expiresAt: Date;
  createdAt: Date;
  settledAt: Date | null;
}

export interface Balance {
  accountId: string;
  balance: bigint;
  held: bigint;
  available: bigint;
}

/** The result of an idempotent operation: `replayed` is true when an earlier call had already done it. */
export interface Applied<T> {
  value: T;
  replayed: boolean;
  /**
   * Committed without waiting for its WAL flush (a batch of chat holds, see postgres-ledger.ts):
   * durable with the next synchronous commit, its capture's at the latest.
   */
  unflushed?: true;
}
