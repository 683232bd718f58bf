import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { disableAutoTopup } from './auto-topup.js';
import { type PaymentGateway, PaymentProviderError } from './payment-gateway.js';
import type { SavedCard, SavedCards } from './saved-cards.js';

/** The provider would not detach the card; it is still saved here and still chargeable there. */
export class CardNotDetached extends Error {
  readonly name = 'CardNotDetached';
  constructor(readonly cause: PaymentProviderError) {
    super(`The saved card could not be removed at the payment provider (${cause.message}).`);
  }
}

export interface CardRemovalDeps {
  db: Knex;
  cards: SavedCards;
  /** The card payment provider (the one that saved the card). */
  gateway: PaymentGateway;
  logger: Logger;
}

/**
 * Removes the account's saved card: detached at the provider first, so that it can never be charged
 * again (a card only forgotten here would stay on file with the provider), then forgotten here, and
 * auto top-up, which charges it, stops. Should the provider refuse or be unreachable, nothing
 * changes and CardNotDetached says so: the customer can try again. Returns the removed card, or null
 * when none was saved.
 */
export async function removeSavedCard(deps: CardRemovalDeps, accountId: string): Promise<SavedCard | null> {
  const card = await deps.cards.get(accountId);
  if (!card) return null;
  await detach(deps, card);
  // Only the card detached: one saved meanwhile by a deposit in flight is a new card, and kept.
  const forgotten = await deps.cards.forget(accountId, card.paymentMethodRef);
  if (forgotten) await disableAutoTopup(deps.db, accountId, 'The saved card was removed.');
  return forgotten;
}

/**
 * Before a new card replaces the saved one: the old one is detached, best effort. The new card is
 * saved whatever happens here (the deposit that saves it is already credited); a card left attached
 * is logged for ops, and is never charged by this service once it is no longer the saved one.
 */
export async function detachReplacedCard(deps: Omit<CardRemovalDeps, 'db'>, accountId: string, newPaymentMethodRef: string): Promise<void> {
  const current = await deps.cards.get(accountId);
  if (!current || current.paymentMethodRef === newPaymentMethodRef) return;
  try {
    await detach(deps, current);
  } catch (err) {
    deps.logger.warn({ err, accountId, paymentMethodRef: current.paymentMethodRef }, 'a replaced saved card could not be detached at the provider');
  }
}

async function detach(deps: Pick<CardRemovalDeps, 'gateway' | 'logger'>, card: SavedCard): Promise<void> {
  if (!deps.gateway.detachCard) {
    // Card payments switched off since the card was saved: nothing here can charge it any more.
    deps.logger.warn({ accountId: card.accountId }, 'saved card forgotten without detaching it: card payments are not configured');
    return;
  }
  try {
    await deps.gateway.detachCard({ paymentMethodRef: card.paymentMethodRef });
  } catch (err) {
    if (err instanceof PaymentProviderError) throw new CardNotDetached(err);
    throw err;
  }
}
