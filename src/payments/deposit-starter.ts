/**
 * Starting a top-up, the use-case behind POST /v1/billing/deposits: the method must be enabled and
 * the amount one of the tiers; the deposit row is created (or found again by its Idempotency-Key)
 * and its workflow started until the checkout exists. Errors are typed values the HTTP layer maps.
 */
import type { Services } from '../services.js';
import { CHECKOUT_WAIT_MS, DepositNotConfirmed, openDepositCheckout } from './deposit-client.js';
import type { Deposit, DepositEvent, DepositMethod } from './deposit-repository.js';
import type { PaymentProvider } from './payment-gateway.js';
import type { Payments } from './payment-services.js';
import { chooseTier, type Tier } from './tiers.js';

export { CheckoutUnavailable, DepositNotConfirmed } from './deposit-client.js';

export interface DepositRequest {
  accountId: string;
  method: DepositMethod;
  tier?: Tier;
  amountNano?: bigint;
  /** Crypto only: the coin, or the network that implies it. */
  coin?: Coin;
  network?: string;
  /** Card only: keep the card for off-session charges (auto top-up). */
  saveCard?: boolean;
  idempotencyKey?: string;
}

export interface StartedDeposit {
  deposit: Deposit;
  history: DepositEvent[];
  /** False when the Idempotency-Key found a deposit created before. */
  created: boolean;
}

/** The method has no provider and no sandbox on this installation. */
export class PaymentMethodUnavailable extends Error {
  constructor(readonly method: DepositMethod, readonly available: DepositMethod[]) {
    super(
      `Payment method '${method}' is not available on this installation.` +
        (available.length ? ` Available: ${available.join(', ')}.` : ' No payment method is available; contact support with POST /v1/billing/support.'),
    );
    this.name = 'PaymentMethodUnavailable';
  }
}

/** The amount is not one of the tiers (other amounts go through a support request). */
export class AmountNotOffered extends Error {
  constructor(reason: string, readonly param: 'amount_usd' | 'tier') {
    super(`${reason} For another amount or a custom arrangement, send POST /v1/billing/support with kind "custom_amount" (or use the contact form on the console).`);
    this.name = 'AmountNotOffered';
  }
}

/** The Idempotency-Key already created a different deposit. */
export class DepositKeyReused extends Error {
  constructor(key: string | undefined, depositId: string) {
    super(`Idempotency-Key '${key}' was already used for a different deposit (${depositId}).`);
    this.name = 'DepositKeyReused';
  }
}

/** Coin and network do not fit the method or each other. */
export class InvalidCryptoChoice extends Error {
  constructor(message: string, readonly param: 'coin' | 'network' | 'save_card') {
    super(message);
    this.name = 'InvalidCryptoChoice';
  }
}

/** Coins on offer and the network each is paid on (USDT on TRC20). */
export const COIN_NETWORK = { BTC: 'btc', LTC: 'ltc', USDT: 'tron' } as const;
export type Coin = keyof typeof COIN_NETWORK;

/**
 * The checkout every new deposit gets, a tier top-up or ops' custom amount alike: its method must
 * be enabled here (else PaymentMethodUnavailable), its provider follows from the method, and it
 * expires after the configured lifetime, never sooner than the provider allows.
 */
export function checkoutFor(payments: Payments, method: DepositMethod): { method: DepositMethod; provider: PaymentProvider; expiresAt: Date } {
  const { enabled, minCheckoutSeconds, settings } = payments;
  if (!enabled[method]) throw new PaymentMethodUnavailable(method, (Object.keys(enabled) as DepositMethod[]).filter((m) => enabled[m]));
  const ttl = Math.max(settings.checkoutTtlSeconds, minCheckoutSeconds[method]);
  return { method, provider: method === 'card' ? 'stripe' : 'cryptomus', expiresAt: new Date(Date.now() + ttl * 1000) };
}

export async function startDeposit(services: Services, req: DepositRequest): Promise<StartedDeposit> {
  // The wait for the checkout counts from here: a database that was slow to create the row (paused,
  // found by the long fault profile) must not push the answer past the client's deadline.
  const checkoutDeadline = Date.now() + CHECKOUT_WAIT_MS;
  const { deposits } = services.payments;
  const checkout = checkoutFor(services.payments, req.method);
  const choice = chooseTier(req.tier, req.amountNano);
  if (!choice.ok) throw new AmountNotOffered(choice.reason, req.amountNano !== undefined ? 'amount_usd' : 'tier');
  const crypto = cryptoChoice(req.method, req.coin, req.network);
  if (req.saveCard && req.method !== 'card') throw new InvalidCryptoChoice('save_card applies to card deposits only.', 'save_card');

  let { deposit, created } = await deposits.create({
    accountId: req.accountId,
    ...checkout,
    tier: choice.tier,
    amount: choice.amountNano,
    ...crypto,
    idempotencyKey: req.idempotencyKey,
    saveCard: req.saveCard ?? false,
  });
  if (!created && (deposit.method !== req.method || deposit.amount !== choice.amountNano || (deposit.coin ?? undefined) !== crypto.coin || deposit.saveCard !== (req.saveCard ?? false))) {
    throw new DepositKeyReused(req.idempotencyKey, deposit.id);
  }
  if (deposit.status === 'creating') {
    try {
      await openDepositCheckout(services, deposit, checkoutDeadline);
    } catch (err) {
      if (!(err instanceof DepositNotConfirmed)) throw err;
      services.logger.error({ depositId: deposit.id, error: err.message }, 'deposit checkout not confirmed');
      // Only a request with an Idempotency-Key can pick this deposit up again by repeating itself.
      throw new DepositNotConfirmed(deposit.id, err.cause, req.idempotencyKey !== undefined);
    }
    deposit = (await deposits.get(deposit.id))!;
  }
  return { deposit, created, history: await deposits.history(deposit.id) };
}

function cryptoChoice(method: DepositMethod, coin: Coin | undefined, network: string | undefined): { coin?: Coin; network?: string } {
  if (method === 'card') {
    if (coin || network) throw new InvalidCryptoChoice('coin and network apply to crypto deposits only.', coin ? 'coin' : 'network');
    return {};
  }
  const impliedCoin = coin ?? (Object.keys(COIN_NETWORK) as Coin[]).find((c) => COIN_NETWORK[c] === network);
  if (!impliedCoin) return {};
  if (network && COIN_NETWORK[impliedCoin] !== network) {
    throw new InvalidCryptoChoice(`${impliedCoin} is paid on the ${COIN_NETWORK[impliedCoin]} network, not ${network}.`, 'network');
  }
  return { coin: impliedCoin, network: COIN_NETWORK[impliedCoin] };
}
