import type { Db } from '../db/connection.js';

export type RequestStatus = 'completed' | 'failed' | 'client_closed';

/** One API call as it is kept for the customer's usage page and for disputes. */
export interface RequestRecord {
  id: string;
  accountId: string;
  apiKeyId: string | null;
  endpoint: string;
  model: string | null;
  status: RequestStatus;
  httpStatus: number;
  stream: boolean;
  promptTokens: number | null;
  completionTokens: number | null;
  /** Nano-dollars actually taken from the balance. */
  cost: bigint;
  holdId: string | null;
  errorCode: string | null;
  upstreamLatencyMs: number | null;
  overheadMs: number;
  maxTokens: number | null;
  usageSource: 'upstream' | 'estimated' | null;
  createdAt: Date;
  completedAt: Date;
}

export interface UsagePageQuery {
  model?: string;
  from?: Date;
  to?: Date;
  limit: number;
  /** Id of the last request of the previous page (newest first). */
  after?: string;
}

export interface ModelUsage {
  model: string | null;
  requests: number;
  failedRequests: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cost: bigint;
}

export class UnknownCursor extends Error {
  readonly name = 'UnknownCursor';
}

/** The `requests` table: written once per call when it ends, read by the usage endpoints. */
export class RequestLog {
  constructor(private readonly db: Db) {}

  /**
   * One statement, committed without waiting for the WAL flush (`synchronous_commit` off for this
   * transaction only). The row is the audit trail of money the ledger has already moved durably
   * (its usage entry carries the same request id), so the flush is not worth a second fsync on
   * every request; a database crash could lose the last fraction of a second of rows, never a
   * ledger entry, and the books stay consistent either way.
   */
  async record(r: RequestRecord): Promise<void> {
    const columns: [string, string, unknown][] = [
      ['id', 'text', r.id],
      ['account_id', 'text', r.accountId],
      ['api_key_id', 'text', r.apiKeyId],
      ['endpoint', 'text', r.endpoint],
      ['model', 'text', r.model],
      ['status', 'text', r.status],
      ['http_status', 'integer', r.httpStatus],
      ['stream', 'boolean', r.stream],
      ['prompt_tokens', 'integer', r.promptTokens],
      ['completion_tokens', 'integer', r.completionTokens],
      ['total_tokens', 'integer', r.promptTokens === null || r.completionTokens === null ? null : r.promptTokens + r.completionTokens],
      ['cost', 'bigint', r.cost.toString()],
      ['hold_id', 'text', r.holdId],
      ['error_code', 'text', r.errorCode],
      ['upstream_latency_ms', 'integer', r.upstreamLatencyMs],
      ['overhead_ms', 'integer', r.overheadMs],
      ['max_tokens', 'integer', r.maxTokens],
      ['usage_source', 'text', r.usageSource],
      ['created_at', 'timestamptz', r.createdAt],
      ['completed_at', 'timestamptz', r.completedAt],
    ];
    await this.db.raw(
      `WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true))
       INSERT INTO requests (${columns.map(([name]) => name).join(', ')})
       SELECT ${columns.map(([, type]) => `?::${type}`).join(', ')} FROM async_commit
       ON CONFLICT (id) DO NOTHING`,
      columns.map(([, , value]) => value) as never,
    );
  }

  /** Newest first, `limit` at a time; `hasMore` says whether another page follows. */
  async page(accountId: string, q: UsagePageQuery): Promise<{ records: RequestRecord[]; hasMore: boolean }> {
    const query = this.db('requests').where('account_id', accountId);
    if (q.model !== undefined) query.andWhere('model', q.model);
    if (q.from) query.andWhere('created_at', '>=', q.from);
    if (q.to) query.andWhere('created_at', '<', q.to);
    if (q.after !== undefined) {
      const cursor = await this.db('requests').select('id').where({ id: q.after, account_id: accountId }).first();
      if (!cursor) throw new UnknownCursor(`no request ${q.after} in this account`);
      // Compared in SQL: a JS Date would drop the microseconds of a now() default and skip rows.
      query.andWhereRaw('(created_at, id) < (SELECT created_at, id FROM requests WHERE id = ?)', [q.after]);
    }
    const rows = await query.orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(q.limit + 1);
    return { records: rows.slice(0, q.limit).map(toRecord), hasMore: rows.length > q.limit };
  }

  /** Requests, tokens and cost per model over [from, to), most expensive first. */
  async perModel(accountId: string, range: { from?: Date; to?: Date }): Promise<ModelUsage[]> {
    const query = this.db('requests')
      .select('model')
      .count({ requests: '*' })
      .select(this.db.raw(`count(*) FILTER (WHERE status <> 'completed') AS failed_requests`))
      .sum({ prompt_tokens: 'prompt_tokens', completion_tokens: 'completion_tokens', total_tokens: 'total_tokens', cost: 'cost' })
      .where('account_id', accountId)
      .groupBy('model')
      .orderByRaw('sum(cost) DESC, model');
    if (range.from) query.andWhere('created_at', '>=', range.from);
    if (range.to) query.andWhere('created_at', '<', range.to);
    const rows: Record<string, unknown>[] = await query;
    return rows.map((r) => ({
      model: r.model as string | null,
      requests: Number(r.requests),
      failedRequests: Number(r.failed_requests),
      promptTokens: Number(r.prompt_tokens ?? 0),
      completionTokens: Number(r.completion_tokens ?? 0),
      totalTokens: Number(r.total_tokens ?? 0),
      // Σ over BIGINT is NUMERIC, which pg hands over as exact decimal text.
      cost: BigInt((r.cost as string | bigint | null) ?? 0),
    }));
  }
}

function toRecord(r: Record<string, any>): RequestRecord {
  return {
    id: r.id,
    accountId: r.account_id,
    apiKeyId: r.api_key_id,
    endpoint: r.endpoint,
    model: r.model,
    status: r.status,
    httpStatus: r.http_status,
    stream: r.stream,
    promptTokens: r.prompt_tokens,
    completionTokens: r.completion_tokens,
    cost: BigInt(r.cost),
    holdId: r.hold_id,
    errorCode: r.error_code,
    upstreamLatencyMs: r.upstream_latency_ms,
    overheadMs: r.overhead_ms,
    maxTokens: r.max_tokens,
    usageSource: r.usage_source,
    createdAt: r.created_at,
    completedAt: r.completed_at,
  };
}
