import { Router } from 'express';
import { z } from 'zod';
import { ChatBilling } from '../../chat/chat-billing.js';
import { temporalHandOff } from '../../chat/durable-capture.js';
import { RequestLog, type RequestStatus } from '../../chat/request-log.js';
import { embedAndBill, type EmbeddingResult } from '../../embeddings/embedding-billing.js';
import { embeddingRequestSchema, planEmbedding, type EmbeddingRequest } from '../../embeddings/embedding-request.js';
import { inFormat } from '../../embeddings/vector-encoding.js';
import { formatUsd, usdNumber } from '../../ledger/money.js';
import type { EmbeddingsRequest } from '../../providers/chat/embedding-types.js';
import type { Services } from '../../services.js';
import { budgetKeyOf } from '../../keys/key-budget.js';
import { authOf } from '../auth.js';
import { assertModelAvailable } from '../availability.js';
import { ApiError, fromZod, invalidRequest } from '../errors.js';
import { upstreamFailure } from '../upstream-failure.js';
import { openapi } from '../openapi.js';
import { COST_HEADER } from './chat-exchange.js';

const ENDPOINT = '/v1/embeddings';

const embeddingResponseSchema = z.object({
  object: z.literal('list'),
  data: z.array(
    z.object({
      object: z.literal('embedding'),
      index: z.number().int(),
      embedding: z.union([z.array(z.number()), z.string()]).describe('Floats, or base64 little-endian float32 with encoding_format=base64'),
    }),
  ),
  model: z.string(),
  usage: z.object({
    prompt_tokens: z.number().int(),
    total_tokens: z.number().int(),
    cost: z.number().describe('USD charged for this request'),
  }),
});

export function embeddingRoutes(services: Services): Router {
  const router = Router();
  const requests = new RequestLog(services.db);
  // The same capture as chat's: an embedding that was delivered is charged even through a database outage.
  const capture = new ChatBilling({
    ledger: services.ledger,
    logger: services.logger,
    lease: services.holdLease,
    handOff: temporalHandOff(services.temporal.client, services.temporal.taskQueue),
  });
  const billing = { ...services, capture };

  openapi.add({
    method: 'post',
    path: ENDPOINT,
    summary: 'Embeddings (OpenAI-compatible), priced per input token; the tokens are held first and the upstream\u2019s count is charged',
    tag: 'embeddings',
    auth: 'api_key',
    body: embeddingRequestSchema,
    responses: {
      200: { description: `One vector per input; usage.cost and the ${COST_HEADER} header say what was charged`, schema: embeddingResponseSchema },
      402: { description: 'insufficient_funds: the balance cannot cover the input tokens; nothing was sent upstream' },
    },
  });

  router.post(ENDPOINT, async (req, res) => {
    const startedAt = new Date();
    const started = performance.now();
    const { accountId, apiKeyId } = authOf(res);
    const requestId = res.locals.requestId as string;
    let holdId: string | null = null;
    let result: EmbeddingResult | undefined;
    let failure: ApiError | undefined;
    let send = () => {};
    try {
      const body = parse(req.body);
      const model = services.catalog.embedding(body.model);
      if (!model) {
        throw new ApiError(404, 'invalid_request_error', 'model_not_found', `The model '${body.model}' is not an embedding model here. GET /v1/models lists them (kind "embedding") with their prices.`, 'model');
      }
      assertModelAvailable(services, model);
      const plan = planEmbedding(model, body);
      if (!plan.ok) throw invalidRequest(plan.message, plan.param, 'invalid_value');
      result = await embedAndBill(billing, {
        accountId,
        apiKeyId: budgetKeyOf(authOf(res).key),
        requestId,
        model,
        plan,
        upstreamRequest: upstreamRequestOf(body, model.upstream_model),
        onHold: (id) => (holdId = id),
      });
      const format = body.encoding_format ?? 'float';
      const answer = {
        object: 'list',
        data: result.response.data.map((item, index) => ({ object: 'embedding', index: item.index ?? index, embedding: inFormat(item.embedding, format) })),
        model: model.id,
        usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens, cost: usdNumber(result.charge) },
      };
      const charge = result.charge;
      // Sent after the request is recorded, so that a caller who reads its usage right away finds it.
      send = () => {
        res.setHeader(COST_HEADER, formatUsd(charge));
        res.json(answer);
      };
    } catch (error) {
      failure = asApiError(error, services, requestId);
      throw failure;
    } finally {
      const status: RequestStatus = failure ? 'failed' : 'completed';
      await requests
        .record({
          id: requestId,
          accountId,
          apiKeyId,
          endpoint: ENDPOINT,
          model: typeof req.body?.model === 'string' ? req.body.model.slice(0, 200) : null,
          status,
          httpStatus: failure?.status ?? 200,
          stream: false,
          promptTokens: result?.promptTokens ?? null,
          completionTokens: result ? 0 : null,
          cost: result?.charge ?? 0n,
          holdId,
          errorCode: failure?.code ?? null,
          upstreamLatencyMs: result ? Math.round(result.upstreamMs) : null,
          overheadMs: Math.max(0, Math.round(performance.now() - started - (result?.upstreamMs ?? 0))),
          maxTokens: null,
          usageSource: result?.usageSource ?? null,
          createdAt: startedAt,
          completedAt: new Date(),
        })
        // The money has moved by now; a lost log row must not turn a served request into an error.
        .catch((err) => services.logger.error({ err, requestId }, 'could not record the request'));
    }
    send();
  });

  return router;
}

function parse(raw: unknown): EmbeddingRequest {
  const parsed = embeddingRequestSchema.safeParse(raw ?? {});
  if (!parsed.success) throw fromZod(parsed.error);
  return parsed.data;
}

/** Only the fields we understand go upstream, under the upstream's model name. */
function upstreamRequestOf(body: EmbeddingRequest, upstreamModel: string): EmbeddingsRequest {
  return {
    model: upstreamModel,
    input: body.input,
    ...(body.encoding_format ? { encoding_format: body.encoding_format } : {}),
    ...(body.dimensions != null ? { dimensions: body.dimensions } : {}),
    ...(body.user ? { user: body.user } : {}),
  };
}

function asApiError(error: unknown, services: Services, requestId: string): ApiError {
  const api = upstreamFailure(error, services.logger, requestId);
  if (api) return api;
  services.logger.error({ err: error, requestId }, 'embeddings request failed');
  return new ApiError(500, 'server_error', 'internal_error', `The server had an error processing your request (request id ${requestId}).`);
}
