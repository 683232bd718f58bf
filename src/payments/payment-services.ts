/**
 * The payment side of the service, built from the config: the real adapters, pointed at the real
 * providers when credentials are set, at a sandbox where config.parts says so (development, or
 * staging with SANDBOXES=1), and otherwise a disabled method that refuses every call.
 */
import type { Config } from '../config.js';
import type { Db } from '../db/connection.js';
import { SANDBOX_MIN_CHECKOUT_SECONDS, type SandboxConnections } from '../sandboxes/index.js';
import { CryptomusGateway } from './cryptomus-gateway.js';
import { DepositRepository, type DepositMethod } from './deposit-repository.js';
import { DisabledGateway } from './disabled-gateway.js';
import { ReversalRepository } from './reversal-repository.js';
import type { PaymentGateway } from './payment-gateway.js';
import { SavedCards } from './saved-cards.js';
import { StripeGateway } from './stripe-gateway.js';

export interface Payments {
  gateways: Record<DepositMethod, PaymentGateway>;
  /** Methods a customer may pay with; a disabled one's gateway refuses every call and every webhook. */
  enabled: Record<DepositMethod, boolean>;
  deposits: DepositRepository;
  /** Disputes and refunds of credited deposits. */
  reversals: ReversalRepository;
  /** Cards kept for off-session charges (save_card). */
  savedCards: SavedCards;
  settings: Config['deposits'];
  /**
   * The shortest checkout to ask each provider for, in seconds: Stripe's 30 minutes plus a margin
   * for the time between the API fixing the expiry and the workflow opening the session;
   * Cryptomus' 5 minutes (its invoice lifetime is counted from creation).
   */
  minCheckoutSeconds: Record<DepositMethod, number>;
}

export function createPayments(config: Config, db: Db, sandboxes: SandboxConnections): Payments {
  const sandboxCard = sandboxes.card;
  const sandboxCrypto = sandboxes.crypto;
  const card: PaymentGateway =
    config.parts.card === 'provider'
      ? new StripeGateway({ secretKey: config.stripe.secretKey!, webhookSecret: config.stripe.webhookSecret!, apiBase: config.stripe.apiBase })
      : sandboxCard
        ? new StripeGateway(sandboxCard)
        : new DisabledGateway('stripe');
  const callbackUrl = `${config.publicUrl}/webhooks/cryptomus`;
  const crypto: PaymentGateway =
    config.parts.crypto === 'provider'
      ? new CryptomusGateway({
          merchantId: config.cryptomus.merchantId!,
          apiKey: config.cryptomus.apiKey!,
          baseUrl: config.cryptomus.baseUrl,
          webhookIps: config.cryptomus.webhookIps,
          callbackUrl,
        })
      : sandboxCrypto
        ? new CryptomusGateway({ ...sandboxCrypto, callbackUrl, minLifetimeSeconds: SANDBOX_MIN_CHECKOUT_SECONDS })
        : new DisabledGateway('cryptomus');

  return {
    gateways: { card, crypto },
    enabled: { card: !(card instanceof DisabledGateway), crypto: !(crypto instanceof DisabledGateway) },
    deposits: new DepositRepository(db, { maxOpen: config.deposits.maxOpenPerAccount }),
    reversals: new ReversalRepository(db),
    savedCards: new SavedCards(db),
    settings: config.deposits,
    minCheckoutSeconds: {
      card: sandboxCard ? SANDBOX_MIN_CHECKOUT_SECONDS : 1800 + 120,
      crypto: sandboxCrypto ? SANDBOX_MIN_CHECKOUT_SECONDS : 300,
    },
  };
}
