import type { PartName } from '../config.js';
import type { CatalogModel } from '../pricing/catalog.js';
import type { Services } from '../services.js';
import { ApiError } from './errors.js';

/**
 * A part without credentials, where no sandbox may stand in, is disabled: the request that needs
 * it is refused before anything is created, held or sent. The chat, image and video routes
 * ask here; deposits ask src/payments/deposit-starter.ts.
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
