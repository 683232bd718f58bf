import type { Db } from '../db/connection.js';
import type { KeySpend, SpendPeriods } from '../keys/key-spend.js';

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
  /** Of promptTokens, read from / written to the provider's prompt cache (null: not reported). */
  cachedTokens?: number | null;
  cacheWriteTokens?: number | null;
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
  apiKeyId?: string;
  from?: Date;
  to?: Date;
  limit: number;
  /** Id of the last request of the previous page (newest first). */
  after?: string;
}

export class UnknownCursor extends Error {
  readonly name = 'UnknownCursor';
}

const COLUMN_TYPES: [string, string][] = [
  ['id', 'text'],
  ['account_id', 'text'],
  ['api_key_id', 'text'],
  ['endpoint', 'text'],
  ['model', 'text'],
  ['status', 'text'],
  ['http_status', 'integer'],
  ['stream', 'boolean'],
  ['prompt_tokens', 'integer'],
  ['completion_tokens', 'integer'],
  ['total_tokens', 'integer'],
  ['cost', 'bigint'],
  ['hold_id', 'text'],
  ['error_code', 'text'],
  ['upstream_latency_ms', 'integer'],
  ['overhead_ms', 'integer'],
  ['max_tokens', 'integer'],
  ['usage_source', 'text'],
  ['created_at', 'timestamptz'],
  ['completed_at', 'timestamptz'],
  ['cached_tokens', 'integer'],
  ['cache_write_tokens', 'integer'],
];

function values(r: RequestRecord): unknown[] {
  const total = r.promptTokens === null || r.completionTokens === null ? null : r.promptTokens + r.completionTokens;
  return [
    r.id, r.accountId, r.apiKeyId, r.endpoint, r.model, r.status, r.httpStatus, r.stream, r.promptTokens,
    r.completionTokens, total, r.cost.toString(), r.holdId, r.errorCode, r.upstreamLatencyMs, r.overheadMs,
    r.maxTokens, r.usageSource, r.createdAt, r.completedAt, r.cachedTokens ?? null, r.cacheWriteTokens ?? null,
  ];
}

const MAX_BATCH = 200;

interface Pending {
  record: RequestRecord;
  resolve(): void;
  reject(error: unknown): void;
}

/** The `requests` table: written once per call when it ends, read by the usage endpoints. */
export class RequestLog {
  private pending: Pending[] = [];
  private flushing = false;

  constructor(private readonly db: Db) {}

  /**
   * Resolves once the row is stored. Rows that arrive while a write is in flight go together in the
   * next statement, so a busy gateway writes one statement per batch, not per request. Each is
   * committed without waiting for the WAL flush (`synchronous_commit` off for that transaction
   * only): the row is the audit trail of money the ledger has already moved durably (its usage
   * entry carries the same request id), so it is not worth another fsync per request; a database
   * crash could lose the last fraction of a second of rows, never a ledger entry.
   */
  record(r: RequestRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ record: r, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.pending.length) {
        const batch = this.pending.splice(0, MAX_BATCH);
        try {
          await this.insert(batch.map((p) => p.record));
          for (const p of batch) p.resolve();
        } catch {
          // One bad row must not take the others with it: retry them one by one.
          for (const p of batch) await this.insert([p.record]).then(p.resolve, p.reject);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async insert(records: RequestRecord[]): Promise<void> {
    const row = `(${COLUMN_TYPES.map(([, type]) => `?::${type}`).join(', ')})`;
    await this.db.raw(
      `WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true))
       INSERT INTO requests (${COLUMN_TYPES.map(([name]) => name).join(', ')})
       SELECT v.* FROM async_commit, (VALUES ${records.map(() => row).join(', ')}) AS v
       ON CONFLICT (id) DO NOTHING`,
      records.flatMap(values) as never,
    );
  }

  /** Newest first, `limit` at a time; `hasMore` says whether another page follows. */
  async page(accountId: string, q: UsagePageQuery): Promise<{ records: RequestRecord[]; hasMore: boolean }> {
    const query = this.db('requests').where('account_id', accountId);
    if (q.model !== undefined) query.andWhere('model', q.model);
    if (q.apiKeyId !== undefined) query.andWhere('api_key_id', q.apiKeyId);
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

  /** The cost recorded on the key's requests, all time and since each period start (a key's spend). */
  async spendOfKey(keyId: string, since: SpendPeriods): Promise<KeySpend> {
    const { rows } = await this.db.raw(
      `SELECT coalesce(sum(cost), 0) AS total,
              coalesce(sum(cost) FILTER (WHERE created_at >= :day), 0) AS daily,
              coalesce(sum(cost) FILTER (WHERE created_at >= :week), 0) AS weekly,
              coalesce(sum(cost) FILTER (WHERE created_at >= :month), 0) AS monthly
         FROM requests WHERE api_key_id = :keyId AND cost > 0`,
      { keyId, ...since },
    );
    return { total: BigInt(rows[0].total), daily: BigInt(rows[0].daily), weekly: BigInt(rows[0].weekly), monthly: BigInt(rows[0].monthly) };
  }
}

/** A `requests` row as a RequestRecord (also used by the usage report). */
export function toRecord(r: Record<string, any>): RequestRecord {
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
    cachedTokens: r.cached_tokens ?? null,
    cacheWriteTokens: r.cache_write_tokens ?? null,
  };
}
