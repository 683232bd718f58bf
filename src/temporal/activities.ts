import { createAlertActivities } from '../alerts/alert-activities.js';
import { createChatActivities } from '../chat/chat-activities.js';
import { createGenerationActivities } from '../generations/generation-activities.js';
import { createHoldSweepActivities } from '../generations/hold-sweep-activities.js';
import { createLedgerActivities } from '../ledger/audit-activities.js';
import { createAutoTopupActivities } from '../payments/auto-topup-activities.js';
import { createDepositActivities } from '../payments/deposit-activities.js';
import { createPaymentProofActivities } from '../payments/payment-proof.js';
import { createReversalActivities } from '../payments/reversal-activities.js';
import type { Services } from '../services.js';

/**
 * All activities the worker registers, each group closing over the services it needs (real
 * clients in production, the tests' local servers in tests). The factories live beside their
 * domain; this is only the list.
 */
export function createActivities(services: Services) {
  return {
    ...createLedgerActivities(services),
    ...createGenerationActivities(services),
    ...createHoldSweepActivities(services),
    ...createDepositActivities(services),
    ...createPaymentProofActivities(services),
    ...createReversalActivities(services),
    ...createChatActivities(services),
    ...createAlertActivities(services),
    ...createAutoTopupActivities(services),
  };
}

export type Activities = ReturnType<typeof createActivities>;
