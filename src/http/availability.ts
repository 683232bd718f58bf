import type { PartName } from '../config.js';
import type { DepositMethod } from '../payments/deposit-repository.js';
import type { CatalogModel } from '../pricing/catalog.js';
import type { Services } from '../services.js';
import { ApiError } from './errors.js';

/**
 * A part without credentials, where no sandbox may stand in, is disabled: the request that needs
 * it is refused before anything is created, held or sent. The chat, image, video and deposit
 * routes all ask here.
 */

const PART_OF_KIND: Record<CatalogModel['kind'], PartName> = { chat: 'chat', embedding: 'chat', image: 'media', video: 'media' };

export function assertModelAvailable(services: Pick<Services, 'config'>, model: Pick<CatalogModel, 'id' | 'kind'>): void {
  if (services.config.parts[PART_OF_KIND[model.kind]] !== 'disabled') return;
  throw new ApiError(
    503,
    'api_error',
    'model_unavailable',
    `The model '${model.id}' is not available on this installation: its provider is not configured. GET /v1/models lists the catalog; try another model or contact the operator.`,
    'model',
    { 'x-should-retry': 'false' },
  );
}

export function assertPaymentMethodAvailable(services: Pick<Services, 'payments'>, method: DepositMethod): void {
  if (services.payments.enabled[method]) return;
  const others = (Object.keys(services.payments.enabled) as DepositMethod[]).filter((m) => services.payments.enabled[m]);
  throw new ApiError(
    400,
    'invalid_request_error',
    'payment_method_unavailable',
    `Payment method '${method}' is not available on this installation.` +
      (others.length ? ` Available: ${others.join(', ')}.` : ' No payment method is available; contact support with POST /v1/billing/support.'),
    'method',
  );
}
