/**
 * The payment side of the service, built from the config: the real adapters, pointed at the real
 * providers when credentials are set, and otherwise at the embedded sandboxes (local servers
 * speaking the same protocols, mounted at /sandbox/stripe and /sandbox/cryptomus).
 */
import path from 'node:path';
import type { Config } from '../config.js';
import type { Db } from '../db/connection.js';
import { CryptomusGateway } from './cryptomus-gateway.js';
import { DepositRepository, type DepositMethod } from './deposit-repository.js';
import type { PaymentGateway } from './payment-gateway.js';
import { type CryptomusSandbox, createCryptomusSandbox } from '../sandboxes/payments/cryptomus-sandbox.js';
import { createStripeSandbox, type StripeSandbox } from '../sandboxes/payments/stripe-sandbox.js';
import { StripeGateway } from './stripe-gateway.js';

/**
 * Credentials of the embedded sandboxes. They guard nothing (no money moves in a sandbox) and are
 * fixed so that an API process and a worker process agree on them.
 */
export const SANDBOX_STRIPE = { secretKey: 'sk_test_cheapa_sandbox', webhookSecret: 'whsec_cheapa_sandbox' } as const;
export const SANDBOX_CRYPTOMUS = { merchantId: 'cheapa-sandbox-merchant', apiKey: 'cheapa-sandbox-payment-key' } as const;

export interface Sandboxes {
  stripe?: StripeSandbox;
  cryptomus?: CryptomusSandbox;
}

export interface Payments {
  gateways: Record<DepositMethod, PaymentGateway>;
  deposits: DepositRepository;
  settings: Config['deposits'];
  /**
   * The shortest checkout to ask each provider for, in seconds: Stripe's 30 minutes plus a margin
   * for the time between the API fixing the expiry and the workflow opening the session;
   * Cryptomus' 5 minutes (its invoice lifetime is counted from creation).
   */
  minCheckoutSeconds: Record<DepositMethod, number>;
  /** The sandboxes this process serves; created on first call, by the process that mounts them. */
  sandboxes(): Sandboxes;
  close(): Promise<void>;
}

export function createPayments(config: Config, db: Db): Payments {
  // The service reaches its own sandboxes over loopback; people reach the pages through PUBLIC_URL.
  const self = `http://127.0.0.1:${config.port}`;
  const embedded = { card: !config.stripe.secretKey, crypto: !config.cryptomus.merchantId };
  // The embedded sandboxes take any future expiry, so DEPOSIT_CHECKOUT_TTL alone decides (tests run
  // with seconds); the real providers keep their minimums.
  const sandboxMin = 1;

  const card = new StripeGateway(
    embedded.card
      ? { ...SANDBOX_STRIPE, apiBase: config.stripe.apiBase ?? `${self}/sandbox/stripe` }
      : { secretKey: config.stripe.secretKey!, webhookSecret: config.stripe.webhookSecret!, apiBase: config.stripe.apiBase },
  );
  const crypto = new CryptomusGateway({
    ...(embedded.crypto
      ? { ...SANDBOX_CRYPTOMUS, baseUrl: config.cryptomus.baseUrl ?? `${self}/sandbox/cryptomus`, minLifetimeSeconds: sandboxMin }
      : {
          merchantId: config.cryptomus.merchantId!,
          apiKey: config.cryptomus.apiKey!,
          baseUrl: config.cryptomus.baseUrl,
          webhookIps: config.cryptomus.webhookIps,
        }),
    callbackUrl: `${config.publicUrl}/webhooks/cryptomus`,
  });

  let sandboxes: Sandboxes | undefined;
  const stateDir = path.join(config.dataDir, 'sandbox');
  return {
    gateways: { card, crypto },
    deposits: new DepositRepository(db),
    settings: config.deposits,
    minCheckoutSeconds: { card: embedded.card ? sandboxMin : 1800 + 120, crypto: embedded.crypto ? sandboxMin : 300 },
    sandboxes() {
      sandboxes ??= {
        stripe: embedded.card
          ? createStripeSandbox({
              ...SANDBOX_STRIPE,
              webhookUrl: `${self}/webhooks/stripe`,
              publicUrl: `${config.publicUrl}/sandbox/stripe`,
              statePath: path.join(stateDir, 'stripe.json'),
              minExpirySeconds: 0,
            })
          : undefined,
        cryptomus: embedded.crypto
          ? createCryptomusSandbox({
              ...SANDBOX_CRYPTOMUS,
              publicUrl: `${config.publicUrl}/sandbox/cryptomus`,
              statePath: path.join(stateDir, 'cryptomus.json'),
              minLifetimeSeconds: sandboxMin,
            })
          : undefined,
      };
      return sandboxes;
    },
    async close() {
      await sandboxes?.stripe?.close();
      await sandboxes?.cryptomus?.close();
    },
  };
}
