import { once } from 'node:events';
import { Router, type Response } from 'express';
import { z } from 'zod';
import { RequestLog, UnknownCursor, type RequestRecord, type UsageBucket, type UsageGrouping } from '../../chat/request-log.js';
import { formatUsd } from '../../ledger/money.js';
import type { Services } from '../../services.js';
import { accountOf } from '../auth.js';
import { csvLine, type CsvValue } from '../csv.js';
import { invalidRequest } from '../errors.js';
import { instant } from '../instant-schema.js';
import { unix } from '../present.js';
import { defineRoute } from '../route.js';

const unixSeconds = z.coerce.number().int().min(0).max(253_402_300_799);
const period = {
  start_time: unixSeconds.optional().describe('Unix seconds, inclusive'),
  end_time: unixSeconds.optional().describe('Unix seconds, exclusive'),
  api_key_id: z.string().min(1).max(200).optional().describe('Only the requests made with this API key'),
};

const UsageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: z.string().min(1).max(200).optional().describe('Id of the last request of the previous page'),
  model: z.string().min(1).max(200).optional(),
  ...period,
  from: instant.optional().describe('Start (inclusive): unix seconds or ISO 8601; same as start_time'),
  to: instant.optional().describe('End (exclusive): unix seconds or ISO 8601; same as end_time'),
  group_by: z.enum(['day', 'hour', 'model', 'key']).optional().describe('Sum requests, tokens and cost per UTC day or hour, per model or per API key'),
  format: z.enum(['json', 'csv']).default('json').describe('csv: the whole period (every request, or every bucket with group_by) streamed as RFC 4180 CSV'),
});
const ModelsQuery = z.object({ ...period, model: z.string().min(1).max(200).optional() });

const requestSchema = z.object({
  id: z.string(),
  object: z.literal('billing.request'),
  created_at: z.number().int(),
  endpoint: z.string(),
  api_key_id: z.string().nullable().describe('The API key that made the request'),
  model: z.string().nullable(),
  stream: z.boolean(),
  status: z.enum(['completed', 'failed', 'client_closed']),
  http_status: z.number().int(),
  error_code: z.string().nullable(),
  prompt_tokens: z.number().int().nullable(),
  completion_tokens: z.number().int().nullable(),
  total_tokens: z.number().int().nullable(),
  prompt_tokens_details: z
    .object({
      cached_tokens: z.number().int().describe("Read from the provider's prompt cache, billed at the model's cached input rate"),
      cache_write_tokens: z.number().int().describe("Written to the provider's prompt cache, billed at the model's cache-write rate"),
    })
    .nullable()
    .describe("Of prompt_tokens, the provider's prompt-cache split (null when it reported none)"),
  cost_usd: z.string().describe('Exact USD taken from the balance'),
  usage_source: z.enum(['upstream', 'estimated']).nullable(),
  max_tokens: z.number().int().nullable().describe('Output limit sent upstream (lowered when the balance required it)'),
  upstream_latency_ms: z.number().int().nullable(),
  overhead_ms: z.number().int(),
});

const bucketSchema = z.object({
  object: z.literal('billing.usage_bucket'),
  start_time: z.number().int().nullable().describe('Unix seconds (day/hour buckets, UTC)'),
  end_time: z.number().int().nullable(),
  model: z.string().nullable().describe('group_by=model'),
  api_key_id: z.string().nullable().describe('group_by=key'),
  requests: z.number().int(),
  failed_requests: z.number().int(),
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  total_tokens: z.number().int(),
  cost_usd: z.string().describe('Exact USD'),
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
          description:
            'A page of requests; with group_by, the buckets of the period (`billing.usage_bucket`, only non-empty ones); with format=csv, text/csv',
          alsoAs: ['text/csv'],
          schema: z.union([
            z.object({
              object: z.literal('list'),
              data: z.array(requestSchema),
              first_id: z.string().nullable(),
              last_id: z.string().nullable(),
              has_more: z.boolean(),
            }),
            z.object({
              object: z.literal('list'),
              group_by: z.enum(['day', 'hour', 'model', 'key']),
              start_time: z.number().int().nullable(),
              end_time: z.number().int().nullable(),
              data: z.array(bucketSchema),
            }),
          ]),
        },
      },
    },
    async ({ query }, _req, res) => {
      const accountId = accountOf(res);
      if (query.group_by || query.format === 'csv') return usageOverTime(requests, accountId, query, res);
      let page;
      try {
        page = await requests.page(accountId, { ...range(query), model: query.model, apiKeyId: query.api_key_id, limit: query.limit, after: query.after });
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
      const accountId = accountOf(res);
      const models = await requests.grouped(accountId, 'model', { ...range(query), model: query.model, apiKeyId: query.api_key_id });
      const sum = (pick: (m: (typeof models)[number]) => number) => models.reduce((t, m) => t + pick(m), 0);
      res.json({
        object: 'list',
        start_time: query.start_time ?? null,
        end_time: query.end_time ?? null,
        data: models.map((m) => ({
          object: 'billing.model_usage',
          model: m.group,
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

function range(q: { start_time?: number; end_time?: number; from?: Date; to?: Date }): { from?: Date; to?: Date } {
  if (q.from && q.start_time !== undefined) throw invalidRequest('Give either from or start_time, not both.', 'from', 'invalid_value');
  if (q.to && q.end_time !== undefined) throw invalidRequest('Give either to or end_time, not both.', 'to', 'invalid_value');
  const from = q.from ?? (q.start_time === undefined ? undefined : new Date(q.start_time * 1000));
  const to = q.to ?? (q.end_time === undefined ? undefined : new Date(q.end_time * 1000));
  if (from && to && to <= from) {
    throw invalidRequest(`${q.to ? 'to' : 'end_time'} must be after ${q.from ? 'from' : 'start_time'}.`, q.to ? 'to' : 'end_time', 'invalid_value');
  }
  return { from, to };
}

type UsageQueryOut = z.output<typeof UsageQuery>;

/** group_by and/or format=csv: the whole period, summed into buckets or row by row. */
async function usageOverTime(requests: RequestLog, accountId: string, query: UsageQueryOut, res: Response): Promise<void> {
  if (query.after !== undefined) throw invalidRequest("'after' pages the request list; it cannot be combined with group_by or format=csv.", 'after', 'invalid_value');
  const period = { ...range(query), model: query.model, apiKeyId: query.api_key_id };
  if (query.group_by) {
    const buckets = (await requests.grouped(accountId, query.group_by, period)).map((b) => presentBucket(query.group_by!, b));
    if (query.format === 'json') {
      res.json({ object: 'list', group_by: query.group_by, start_time: unix(period.from), end_time: unix(period.to), data: buckets });
      return;
    }
    const columns = Object.keys(bucketSchema.shape).filter((c) => c !== 'object');
    startCsv(res, `usage-by-${query.group_by}.csv`);
    res.write(csvLine(columns));
    for (const b of buckets) res.write(csvLine(columns.map((c) => (b as Record<string, CsvValue>)[c] ?? null)));
    res.end();
    return;
  }
  startCsv(res, 'usage.csv');
  res.write(csvLine(CSV_REQUEST_COLUMNS));
  for await (const rows of requests.rows(accountId, period)) {
    if (res.destroyed) return;
    const chunk = rows.map(csvRequestLine).join('');
    // Respect backpressure; a client that goes away ends the export.
    if (!res.write(chunk)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
  }
  res.end();
}

function startCsv(res: Response, filename: string) {
  res.status(200);
  res.setHeader('content-type', 'text/csv; charset=utf-8');
  res.setHeader('content-disposition', `attachment; filename="${filename}"`);
}

const CSV_REQUEST_COLUMNS = [
  'id', 'created_at', 'api_key_id', 'endpoint', 'model', 'status', 'http_status', 'stream',
  'prompt_tokens', 'completion_tokens', 'total_tokens', 'cost_usd',
];

function csvRequestLine(r: RequestRecord): string {
  const total = r.promptTokens === null || r.completionTokens === null ? null : r.promptTokens + r.completionTokens;
  return csvLine([
    r.id, r.createdAt.toISOString(), r.apiKeyId, r.endpoint, r.model, r.status, r.httpStatus, r.stream,
    r.promptTokens, r.completionTokens, total, formatUsd(r.cost),
  ]);
}

function presentBucket(by: UsageGrouping, b: UsageBucket) {
  return {
    object: 'billing.usage_bucket' as const,
    start_time: unix(b.start),
    end_time: b.start ? unix(new Date(b.start.getTime() + (by === 'day' ? 86_400_000 : 3_600_000))) : null,
    model: by === 'model' ? b.group : null,
    api_key_id: by === 'key' ? b.group : null,
    requests: b.requests,
    failed_requests: b.failedRequests,
    prompt_tokens: b.promptTokens,
    completion_tokens: b.completionTokens,
    total_tokens: b.totalTokens,
    cost_usd: formatUsd(b.cost),
  };
}

function presentRequest(r: RequestRecord) {
  return {
    id: r.id,
    object: 'billing.request' as const,
    created_at: unix(r.createdAt)!,
    endpoint: r.endpoint,
    api_key_id: r.apiKeyId,
    model: r.model,
    stream: r.stream,
    status: r.status,
    http_status: r.httpStatus,
    error_code: r.errorCode,
    prompt_tokens: r.promptTokens,
    completion_tokens: r.completionTokens,
    total_tokens: r.promptTokens === null || r.completionTokens === null ? null : r.promptTokens + r.completionTokens,
    prompt_tokens_details:
      r.cachedTokens == null && r.cacheWriteTokens == null ? null : { cached_tokens: r.cachedTokens ?? 0, cache_write_tokens: r.cacheWriteTokens ?? 0 },
    cost_usd: formatUsd(r.cost),
    usage_source: r.usageSource,
    max_tokens: r.maxTokens,
    upstream_latency_ms: r.upstreamLatencyMs,
    overhead_ms: r.overheadMs,
  };
}
