import type { Logger } from 'pino';
import { InsufficientFunds, LeaseLapsed } from '../ledger/errors.js';
import type { PostgresLedger } from '../ledger/postgres-ledger.js';
import type { ProcessLease } from '../ledger/process-lease.js';

interface Allowance {
  leaseId: string;
  /** What this process counts as reserved: what it reserved, less what charges took off (ChargeRow.shrunk). */
  amount: bigint;
  /** The worst cases of this process's requests in flight on the account. */
  inUse: bigint;
  idle?: NodeJS.Timeout;
  releasing?: Promise<void>;
}

export interface ChatAllowancesDeps {
  ledger: PostgresLedger;
  lease: ProcessLease;
  logger: Logger;
  /**
   * How long an account's allowance outlives its last request in flight before it is given back, so
   * that an idle account's available balance shows nothing held for long (CHAT_ALLOWANCE_IDLE_MS).
   */
  idleMs: number;
}

/**
 * This process's side of chat allowances (src/ledger/allowances.ts): per account, the amount reserved
 * under its lease and the part of it its requests in flight have taken. A request whose worst case
 * fits in the rest takes it here, with no database round trip; one that does not grows the allowance
 * by the shortfall first. Every take is given back once (`giveBack`) when its request is settled.
 */
export class ChatAllowances {
  private readonly accounts = new Map<string, Allowance>();
  private closed = false;

  constructor(private readonly deps: ChatAllowancesDeps) {}

  /**
   * Takes `amount` for one request. Throws InsufficientFunds with what this request could have
   * (the account's available balance plus this process's unused allowance), so the caller can
   * re-plan, and whatever the lease or the database throws; nothing is taken then.
   */
  async take(accountId: string, amount: bigint): Promise<{ leaseId: string }> {
    const leaseId = await this.deps.lease.id();
    for (;;) {
      let a = this.accounts.get(accountId);
      if (a?.releasing) {
        await a.releasing;
        continue;
      }
      // A replaced lease's allowance is the sweep's to release: this process starts anew under its lease.
      if (!a || a.leaseId !== leaseId) {
        a = { leaseId, amount: 0n, inUse: 0n };
        this.accounts.set(accountId, a);
      }
      clearTimeout(a.idle);
      a.idle = undefined;
      const free = a.amount - a.inUse;
      a.inUse += amount;
      if (free >= amount) return { leaseId };
      const unused = free > 0n ? free : 0n;
      const shortfall = amount - unused;
      try {
        await this.deps.ledger.reserveAllowance({ accountId, leaseId, amount: shortfall });
        a.amount += shortfall;
        return { leaseId };
      } catch (error) {
        this.giveBack(accountId, leaseId, amount, 0n);
        if (error instanceof LeaseLapsed) await this.deps.lease.lapsed(leaseId);
        if (error instanceof InsufficientFunds) throw new InsufficientFunds(accountId, error.available + unused, amount);
        throw error;
      }
    }
  }

  /**
   * A request that took `amount` is settled; its charge took `shrunk` off the allowance, or null when
   * that is not known (a charge handed to the capture workflow, a replay). The count then drops to
   * nothing, so that no later request relies on what the unknown charge may have taken: they reserve
   * anew, and whatever is reserved beyond need goes back with the whole allowance when idle.
   */
  giveBack(accountId: string, leaseId: string, amount: bigint, shrunk: bigint | null): void {
    const a = this.accounts.get(accountId);
    if (!a || a.leaseId !== leaseId) return;
    a.inUse -= amount;
    if (shrunk === null) a.amount = 0n;
    else a.amount -= shrunk;
    if (a.inUse === 0n) this.releaseWhenIdle(accountId, a);
  }

  private releaseWhenIdle(accountId: string, a: Allowance): void {
    if (a.idle) return;
    a.idle = setTimeout(() => void this.release(accountId, a), this.deps.idleMs);
    a.idle.unref();
  }

  /** Gives every allowance back (a clean shutdown, after the requests in flight were settled). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.accounts.entries()].map(([accountId, a]) => this.release(accountId, a)));
  }

  private async release(accountId: string, a: Allowance): Promise<void> {
    clearTimeout(a.idle);
    a.idle = undefined;
    if (a.inUse !== 0n || a.releasing || this.accounts.get(accountId) !== a) return;
    a.releasing = (async () => {
      try {
        await this.deps.ledger.releaseAllowance(accountId, a.leaseId);
        this.accounts.delete(accountId);
      } catch (err) {
        // Still reserved, for the next request or the next try: an account that stays idle must not
        // keep part of its balance held for as long as this process lives.
        this.deps.logger.warn({ err, accountId }, 'could not release an idle chat allowance; trying again when idle');
        if (!this.closed) this.releaseWhenIdle(accountId, a);
      } finally {
        a.releasing = undefined;
      }
    })();
    await a.releasing;
  }
}
