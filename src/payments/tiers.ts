/** The top-up amounts on offer (billing page). Anything else goes through the support form. */
import { formatUsd, NANOS_PER_USD } from '../ledger/money.js';

export const TIERS = {
  starter: 10n * NANOS_PER_USD,
  standard: 25n * NANOS_PER_USD,
  developer: 50n * NANOS_PER_USD,
  team: 100n * NANOS_PER_USD,
  growth: 250n * NANOS_PER_USD,
  enterprise: 500n * NANOS_PER_USD,
} as const;

export type Tier = keyof typeof TIERS;
export const TIER_NAMES = Object.keys(TIERS) as Tier[];

export type TierChoice = { ok: true; tier: Tier; amountNano: bigint } | { ok: false; reason: string };

/** Resolves a request's tier and/or amount to one offered tier; both given must agree. */
export function chooseTier(tier: Tier | undefined, amountNano: bigint | undefined): TierChoice {
  if (tier === undefined && amountNano === undefined) return { ok: false, reason: 'Give a tier or amount_usd.' };
  const byAmount = amountNano === undefined ? undefined : TIER_NAMES.find((t) => TIERS[t] === amountNano);
  if (amountNano !== undefined && !byAmount) {
    return { ok: false, reason: `$${formatUsd(amountNano)} is not one of the top-up amounts (${offered()}).` };
  }
  if (tier !== undefined && byAmount !== undefined && tier !== byAmount) {
    return { ok: false, reason: `tier '${tier}' is $${formatUsd(TIERS[tier])}, not $${formatUsd(amountNano!)}.` };
  }
  const chosen = (tier ?? byAmount)!;
  return { ok: true, tier: chosen, amountNano: TIERS[chosen] };
}

export const offered = (): string => TIER_NAMES.map((t) => `${t} $${TIERS[t] / NANOS_PER_USD}`).join(', ');

/** A custom amount ops may open a checkout for (from a support request): whole cents, $5 to $10,000. */
export const CUSTOM_AMOUNT = { min: 5n * NANOS_PER_USD, max: 10_000n * NANOS_PER_USD, step: NANOS_PER_USD / 100n } as const;

export function customAmountProblem(amountNano: bigint): string | null {
  if (amountNano < CUSTOM_AMOUNT.min || amountNano > CUSTOM_AMOUNT.max) {
    return `A custom amount must be between $${formatUsd(CUSTOM_AMOUNT.min)} and $${formatUsd(CUSTOM_AMOUNT.max)}.`;
  }
  if (amountNano % CUSTOM_AMOUNT.step !== 0n) return 'A custom amount is in whole cents.';
  return null;
}
