import { Router } from 'express';
import { z } from 'zod';
import { formatUsd } from '../../ledger/money.js';
import type { Catalog, CatalogModel } from '../../pricing/catalog.js';
import type { Services } from '../../services.js';
import { ApiError } from '../errors.js';
import { defineRoute } from '../route.js';

const pricing = z.union([
  z.object({
    input_usd_per_million_tokens: z.string(),
    output_usd_per_million_tokens: z.string(),
    cached_input_usd_per_million_tokens: z.string().optional(),
    cache_write_usd_per_million_tokens: z.string().optional(),
  }),
  z.object({ input_usd_per_million_tokens: z.string() }),
  z.object({ usd_per_generation: z.string() }),
]);

const modelSchema = z.looseObject({
  id: z.string(),
  object: z.literal('model'),
  created: z.number().int(),
  owned_by: z.string(),
  kind: z.enum(['chat', 'embedding', 'image', 'video']),
  modality: z.enum(['text->text', 'text->embeddings', 'text->image', 'text+image->video']).describe('What the model takes and gives, as OpenRouter spells it'),
  pricing: pricing.describe('Exact USD prices as decimal strings'),
  aliases: z.array(z.string()).optional().describe('Chat models: other ids the chat endpoints accept for this model (provider snapshots)'),
  context_window: z.number().int().optional(),
  max_output_tokens: z.number().int().optional(),
  dimensions: z.number().int().optional().describe('Embedding models: the native vector size'),
  max_input_tokens: z.number().int().optional().describe('Embedding models: the longest single input'),
});

const modelListSchema = z.object({ object: z.literal('list'), data: z.array(modelSchema) });

/** GET /v1/models in OpenAI's shape, each model with its prices. */
export function modelRoutes(services: Services): Router {
  const router = Router();

  defineRoute(
    router,
    {
      method: 'get',
      path: '/v1/models',
      summary: 'The models this service can serve, with prices, context length and modality',
      tag: 'models',
      auth: 'api_key',
      responses: { 200: { description: 'Every model', schema: modelListSchema } },
    },
    (_input, _req, res) => {
      const catalog = services.catalog;
      // A chat model without a configured provider is not listed: asking for it would answer 503.
      const routable = catalog.models.filter((m) => m.kind !== 'chat' || services.chatRoutes.for(m).length > 0);
      res.json({ object: 'list', data: routable.map((m) => presentModel(m, catalog)) });
    },
  );

  defineRoute(
    router,
    {
      method: 'get',
      path: '/v1/models/:id',
      summary: 'One model with its prices',
      tag: 'models',
      auth: 'api_key',
      responses: { 200: { description: 'The model', schema: modelSchema } },
    },
    ({ params }, _req, res) => {
      const model = services.catalog.get(params.id!);
      if (!model) {
        throw new ApiError(404, 'invalid_request_error', 'model_not_found', `The model '${params.id}' does not exist.`, 'model');
      }
      res.json(presentModel(model, services.catalog));
    },
  );

  return router;
}

/** Catalog versions are dates; a model's `created` is that of the catalog that lists it. */
function catalogCreated(catalog: Catalog): number {
  const time = Date.parse(`${catalog.version}T00:00:00Z`);
  return Number.isNaN(time) ? 0 : Math.floor(time / 1000);
}

export function presentModel(model: CatalogModel, catalog: Catalog) {
  const common = { id: model.id, object: 'model' as const, created: catalogCreated(catalog), owned_by: model.family, kind: model.kind };
  if (model.kind === 'chat') {
    const cached = model.cached_input_nanos_per_million;
    const write = model.cache_write_nanos_per_million;
    return {
      ...common,
      modality: 'text->text' as const,
      pricing: {
        input_usd_per_million_tokens: formatUsd(model.input_nanos_per_million),
        output_usd_per_million_tokens: formatUsd(model.output_nanos_per_million),
        ...(cached !== undefined ? { cached_input_usd_per_million_tokens: formatUsd(cached) } : {}),
        ...(write !== undefined ? { cache_write_usd_per_million_tokens: formatUsd(write) } : {}),
      },
      ...(model.aliases?.length ? { aliases: model.aliases } : {}),
      context_window: model.context_window,
      max_output_tokens: model.max_output_tokens,
    };
  }
  if (model.kind === 'embedding') {
    return {
      ...common,
      modality: 'text->embeddings' as const,
      pricing: { input_usd_per_million_tokens: formatUsd(model.input_nanos_per_million) },
      dimensions: model.dimensions,
      max_input_tokens: model.max_input_tokens,
    };
  }
  const modality = model.kind === 'image' ? ('text->image' as const) : ('text+image->video' as const);
  return { ...common, modality, pricing: { usd_per_generation: formatUsd(model.per_generation_nanos) } };
}
