import { InvalidWebhookSignature, type PaymentGateway, type PaymentProvider, PaymentProviderError, type ProviderCheckout } from './payment-gateway.js';

const DISABLED = 'this payment method is disabled on this installation';

/**
 * A payment method without credentials (or switched off by PAYMENT_METHODS) where no sandbox may
 * stand in. The deposit route refuses it up front; this is the backstop, so that nothing (a stray
 * workflow, a forged webhook) moves money through a provider the operator never configured.
 */
export class DisabledGateway implements PaymentGateway {
  constructor(readonly provider: PaymentProvider) {}

  createCheckout(): Promise<ProviderCheckout> {
    return Promise.reject(new PaymentProviderError(this.provider, DISABLED, false));
  }
  retrieveCheckout(): Promise<ProviderCheckout> {
    return Promise.reject(new PaymentProviderError(this.provider, DISABLED, false));
  }
  closeCheckout(): Promise<ProviderCheckout> {
    return Promise.reject(new PaymentProviderError(this.provider, DISABLED, false));
  }
  parseWebhook(): never {
    throw new InvalidWebhookSignature(this.provider, DISABLED);
  }
}
