/**
 * OpenAI's legacy credit_summary, computed from ledger figures. Each deposit or positive
 * adjustment is a grant; spending (usage, captures, negative adjustments) is allocated to grants
 * oldest first, which is how a prepaid wallet is drawn down. Pure so it is tested on its own.
 */
export interface Grant {
  id: string;
  amount: bigint;
  effectiveAt: Date;
}

export interface CreditSummary {
  totalGranted: bigint;
  totalUsed: bigint;
  totalHeld: bigint;
  totalAvailable: bigint;
  grants: { id: string; grantAmount: bigint; usedAmount: bigint; effectiveAt: Date }[];
}

export function creditSummary(input: { grants: Grant[]; balance: bigint; held: bigint }): CreditSummary {
  const grants = [...input.grants].sort((a, b) => a.effectiveAt.getTime() - b.effectiveAt.getTime() || a.id.localeCompare(b.id));
  const totalGranted = grants.reduce((s, g) => s + g.amount, 0n);
  const totalUsed = totalGranted - input.balance;
  let toAllocate = totalUsed;
  return {
    totalGranted,
    totalUsed,
    totalHeld: input.held,
    totalAvailable: input.balance - input.held,
    grants: grants.map((g) => {
      const used = toAllocate <= 0n ? 0n : toAllocate >= g.amount ? g.amount : toAllocate;
      toAllocate -= used;
      return { id: g.id, grantAmount: g.amount, usedAmount: used, effectiveAt: g.effectiveAt };
    }),
  };
}
