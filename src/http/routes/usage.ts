import { Router } from 'express';
import { z } from 'zod';
import { RequestLog, UnknownCursor, type RequestRecord } from '../../chat/request-log.js';
import { formatUsd } from '../../ledger/money.js';
import type { Services } from '../../services.js';
import { authOf } from '../auth.js';
import { invalidRequest } from '../errors.js';
import { unix } from '../present.js';
import { defineRoute } from '../route.js';

const unixSeconds = z.coerce.number().int().min(0).max(253_402_300_799);
const period = {
  start_time: unixSeconds.optional().describe('Unix seconds, inclusive'),
  end_time: unixSeconds.optional().describe('Unix seconds, exclusive'),
};

const UsageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: z.string().min(1).max(200).optional().describe('Id of the last request of the previous page'),
  model: z.string().min(1).max(200).optional(),
  ...period,
});
const ModelsQuery = z.object(period);

const requestSchema = z.object({
  id: z.string(),
  object: z.literal('billing.request'),
  created_at: z.number().int(),
  endpoint: z.string(),
  model: z.string().nullable(),
  stream: z.boolean(),
  status: z.enum(['completed', 'failed', 'client_closed']),
  http_status: z.number().int(),
  error_code: z.string().nullable(),
  prompt_tokens: z.number().int().nullable(),
  completion_tokens: z.number().int().nullable(),
  total_tokens: z.number().int().nullable(),
  cost_usd: z.string().describe('Exact USD taken from the balance'),
  usage_source: z.enum(['upstream', 'estimated']).nullable(),
  max_tokens: z.number().int().nullable().describe('Output limit sent upstream (lowered when the balance required it)'),
  upstream_latency_ms: z.number().int().nullable(),
  overhead_ms: z.number().int(),
});

const modelUsageSchema = z.object({
  object: z.literal('billing.model_usage'),
  model: z.string().nullable(),
  requests: z.number().int(),
  failed_requests: z.number().int(),
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  total_tokens: z.number().int(),
  cost_usd: z.string(),
});

/** Per-request cost breakdown and per-model aggregates of the caller's account. */
export function usageRoutes(services: Services): Router {
  const router = Router();
  const requests = new RequestLog(services.db);

  defineRoute(
    router,
    {
      method: 'get',
      path: '/v1/billing/usage',
      summary: 'Per-request cost breakdown, newest first (paginated; filter by model and time)',
      tag: 'billing',
      auth: 'api_key',
      query: UsageQuery,
      responses: {
        200: {
          description: 'A page of requests',
          schema: z.object({
            object: z.literal('list'),
            data: z.array(requestSchema),
            first_id: z.string().nullable(),
            last_id: z.string().nullable(),
            has_more: z.boolean(),
          }),
        },
      },
    },
    async ({ query }, _req, res) => {
      const { accountId } = authOf(res);
      let page;
      try {
        page = await requests.page(accountId, { ...range(query), model: query.model, limit: query.limit, after: query.after });
      } catch (error) {
        if (error instanceof UnknownCursor) throw invalidRequest(`Unknown 'after' cursor: ${error.message}.`, 'after', 'invalid_cursor');
        throw error;
      }
      res.json({
        object: 'list',
        data: page.records.map(presentRequest),
        first_id: page.records[0]?.id ?? null,
        last_id: page.records.at(-1)?.id ?? null,
        has_more: page.hasMore,
      });
    },
  );

  defineRoute(
    router,
    {
      method: 'get',
      path: '/v1/billing/usage/models',
      summary: 'Requests, tokens and cost per model over a period',
      tag: 'billing',
      auth: 'api_key',
      query: ModelsQuery,
      responses: {
        200: {
          description: 'One entry per model used in the period, most expensive first, and the totals',
          schema: z.object({
            object: z.literal('list'),
            start_time: z.number().int().nullable(),
            end_time: z.number().int().nullable(),
            data: z.array(modelUsageSchema),
            total: modelUsageSchema.omit({ object: true, model: true }),
          }),
        },
      },
    },
    async ({ query }, _req, res) => {
      const { accountId } = authOf(res);
      const models = await requests.perModel(accountId, range(query));
      const sum = (pick: (m: (typeof models)[number]) => number) => models.reduce((t, m) => t + pick(m), 0);
      res.json({
        object: 'list',
        start_time: query.start_time ?? null,
        end_time: query.end_time ?? null,
        data: models.map((m) => ({
          object: 'billing.model_usage',
          model: m.model,
          requests: m.requests,
          failed_requests: m.failedRequests,
          prompt_tokens: m.promptTokens,
          completion_tokens: m.completionTokens,
          total_tokens: m.totalTokens,
          cost_usd: formatUsd(m.cost),
        })),
        total: {
          requests: sum((m) => m.requests),
          failed_requests: sum((m) => m.failedRequests),
          prompt_tokens: sum((m) => m.promptTokens),
          completion_tokens: sum((m) => m.completionTokens),
          total_tokens: sum((m) => m.totalTokens),
          cost_usd: formatUsd(models.reduce((t, m) => t + m.cost, 0n)),
        },
      });
    },
  );

  return router;
}

function range(q: { start_time?: number; end_time?: number }): { from?: Date; to?: Date } {
  if (q.start_time !== undefined && q.end_time !== undefined && q.end_time <= q.start_time) {
    throw invalidRequest('end_time must be after start_time.', 'end_time', 'invalid_value');
  }
  return {
    from: q.start_time === undefined ? undefined : new Date(q.start_time * 1000),
    to: q.end_time === undefined ? undefined : new Date(q.end_time * 1000),
  };
}

function presentRequest(r: RequestRecord) {
  return {
    id: r.id,
    object: 'billing.request' as const,
    created_at: unix(r.createdAt)!,
    endpoint: r.endpoint,
    model: r.model,
    stream: r.stream,
    status: r.status,
    http_status: r.httpStatus,
    error_code: r.errorCode,
    prompt_tokens: r.promptTokens,
    completion_tokens: r.completionTokens,
    total_tokens: r.promptTokens === null || r.completionTokens === null ? null : r.promptTokens + r.completionTokens,
    cost_usd: formatUsd(r.cost),
    usage_source: r.usageSource,
    max_tokens: r.maxTokens,
    upstream_latency_ms: r.upstreamLatencyMs,
    overhead_ms: r.overheadMs,
  };
}
