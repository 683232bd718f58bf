import type { Services } from '../src/services.js';
import { createChatActivities } from './chat.js';
import { createDepositActivities } from './deposits.js';
import { createLedgerActivities } from './ledger.js';
import { createGenerationActivities } from '../src/generations/generation-activities.js';
import { createHoldSweepActivities } from '../src/generations/hold-sweep-activities.js';
import { createPaymentProofActivities } from '../src/payments/payment-proof.js';
import { createReversalActivities } from '../src/payments/reversal-activities.js';

/**
 * All activities the worker registers, each group closing over the services it needs
 * (real clients in production, the tests' local servers in tests).
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
  };
}

export type Activities = ReturnType<typeof createActivities>;
