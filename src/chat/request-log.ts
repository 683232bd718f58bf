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

/** Which requests a usage read covers: `from` inclusive, `to` exclusive, optionally one model and one key. */
export interface UsageRange {
  from?: Date;
  to?: Date;
  model?: string;
  apiKeyId?: string;
}

export interface UsagePageQuery extends UsageRange {
  limit: number;
  /** Id of the last request of the previous page (newest first). */
  after?: string;
}

/** Spend over time: buckets per UTC day or hour, per model or per key. */
export type UsageGrouping = 'day' | 'hour' | 'model' | 'key';

export interface UsageBucket {
  /** The bucket's start for day/hour, else null. */
  start: Date | null;
  /** The model or API key id for model/key grouping, else null. */
  group: string | null;
  requests: number;
  failedRequests: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cost: bigint;
}

const BUCKET_SQL: Record<UsageGrouping, string> = {
  day: `date_trunc('day', created_at, 'UTC')`,
  hour: `date_trunc('hour', created_at, 'UTC')`,
  model: 'model',
  key: 'api_key_id',
};

export class UnknownCursor extends Error {
  readonly name = 'UnknownCursor';
}

const COLUMN_TYPES = [
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
] as const satisfies readonly (readonly [string, string])[];

type Column = (typeof COLUMN_TYPES)[number][0];

/**
 * A record as its `requests` row (column → value): as JSON for a row written by another statement,
 * and in COLUMN_TYPES' order for this module's own insert. One object literal, whose keys the type
 * holds to exactly the columns: it is built for every chat request, and building it from the column
 * list was twice the cost of the JSON it becomes.
 */
export function requestRow(r: RequestRecord): Record<Column, unknown> {
  return {
    id: r.id,
    account_id: r.accountId,
    api_key_id: r.apiKeyId,
    endpoint: r.endpoint,
    model: r.model,
    status: r.status,
    http_status: r.httpStatus,
    stream: r.stream,
    prompt_tokens: r.promptTokens,
    completion_tokens: r.completionTokens,
    total_tokens: r.promptTokens === null || r.completionTokens === null ? null : r.promptTokens + r.completionTokens,
    cost: r.cost.toString(),
    hold_id: r.holdId,
    error_code: r.errorCode,
    upstream_latency_ms: r.upstreamLatencyMs,
    overhead_ms: r.overheadMs,
    max_tokens: r.maxTokens,
    usage_source: r.usageSource,
    created_at: r.createdAt,
    completed_at: r.completedAt,
    cached_tokens: r.cachedTokens ?? null,
    cache_write_tokens: r.cacheWriteTokens ?? null,
  };
}

function values(r: RequestRecord): unknown[] {
  const row = requestRow(r);
  return COLUMN_TYPES.map(([name]) => row[name]);
}

/**
 * The INSERT of `requests` rows that ride in a ledger batch statement (PostgresLedger.captureHold),
 * so a charge and the row of the request it charges commit together in one round trip. `rows` names
 * a relation whose column `j` is a JSON array aligned with the batch's operations; `applied` is the
 * batch's result (`i`, the operation's position from 1; `h_id`, null unless it applied). A row is
 * written only where its operation applied: a capture replayed or refused writes none, and its caller
 * records the request itself (`record`, which skips a row already there).
 */
export function requestRowsOfBatch(applied: string, rows: string): string {
  const names = COLUMN_TYPES.map(([name]) => name);
  return `INSERT INTO requests (${names.join(', ')})
     SELECT ${names.map((n) => `r.${n}`).join(', ')}
       FROM ${applied} a, ${rows} x, LATERAL jsonb_populate_record(NULL::requests, x.j -> (a.i - 1)) r
      WHERE a.h_id IS NOT NULL AND jsonb_typeof(x.j -> (a.i - 1)) = 'object'
     ON CONFLICT (id) DO NOTHING`;
}

const MAX_BATCH = 200;

interface Pending {
  record: RequestRecord;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * The `requests` table and its only owner: one row per API call with the exact cost the ledger took
 * and the key that made it, written once when the call ends; read for the usage endpoints (pages,
 * buckets, the CSV export), a key's spend and the request ids a support request names.
 */
export class RequestLog {
  private pending: Pending[] = [];
  private flushing = false;

  constructor(private readonly db: Db) {}

  /**
   * Resolves once the row is stored. Rows that arrive while a write is in flight go together in the
   * next statement, so a busy gateway writes one statement per batch, not per request. Each is
   * committed without waiting for the WAL flush (`synchronous_commit` off for that transaction
   * only, unless it is the caller's own transaction: see insert): the row is the audit trail of
   * money the ledger has already moved durably (its usage entry carries the same request id), so
   * it is not worth another fsync per request; a database crash could lose the last fraction of a
   * second of rows, never a ledger entry.
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
    // Inside a caller's transaction the row shares that transaction's commit, which may move money
    // (a generation's capture is settled with its row): relaxing it there would make the capture's
    // commit asynchronous too. Only a row committed on its own skips the flush wait.
    const relax = this.db.isTransaction ? '' : `WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true))`;
    await this.db.raw(
      `${relax}
       INSERT INTO requests (${COLUMN_TYPES.map(([name]) => name).join(', ')})
       SELECT v.* FROM ${relax ? 'async_commit, ' : ''}(VALUES ${records.map(() => row).join(', ')}) AS v
       ON CONFLICT (id) DO NOTHING`,
      records.flatMap(values) as never,
    );
  }

  /** Newest first, `limit` at a time; `hasMore` says whether another page follows. */
  async page(accountId: string, q: UsagePageQuery): Promise<{ records: RequestRecord[]; hasMore: boolean }> {
    const query = this.scoped(accountId, q);
    if (q.after !== undefined) {
      const cursor = await this.db('requests').select('id').where({ id: q.after, account_id: accountId }).first();
      if (!cursor) throw new UnknownCursor(`no request ${q.after} in this account`);
      // Compared in SQL: a JS Date would drop the microseconds of a now() default and skip rows.
      query.andWhereRaw('(created_at, id) < (SELECT created_at, id FROM requests WHERE id = ?)', [q.after]);
    }
    const rows = await query.orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(q.limit + 1);
    return { records: rows.slice(0, q.limit).map(toRecord), hasMore: rows.length > q.limit };
  }

  /** Non-empty buckets: time buckets oldest first, model/key buckets most expensive first. */
  async grouped(accountId: string, by: UsageGrouping, range: UsageRange): Promise<UsageBucket[]> {
    const bucket = BUCKET_SQL[by];
    const byTime = by === 'day' || by === 'hour';
    const rows: Record<string, unknown>[] = await this.scoped(accountId, range)
      .select(this.db.raw(`${bucket} AS bucket`))
      .count({ requests: '*' })
      .select(this.db.raw(`count(*) FILTER (WHERE status <> 'completed') AS failed_requests`))
      .sum({ prompt_tokens: 'prompt_tokens', completion_tokens: 'completion_tokens', total_tokens: 'total_tokens', cost: 'cost' })
      .groupByRaw(bucket)
      .orderByRaw(byTime ? 'bucket' : 'sum(cost) DESC, bucket');
    return rows.map((r) => ({
      start: byTime ? (r.bucket as Date) : null,
      group: byTime ? null : (r.bucket as string | null),
      requests: Number(r.requests),
      failedRequests: Number(r.failed_requests),
      promptTokens: Number(r.prompt_tokens ?? 0),
      completionTokens: Number(r.completion_tokens ?? 0),
      totalTokens: Number(r.total_tokens ?? 0),
      // Σ over BIGINT is NUMERIC, which pg hands over as exact decimal text.
      cost: BigInt((r.cost as string | bigint | null) ?? 0),
    }));
  }

  /** Every request of the range, oldest first, `batchSize` rows per read (keyset pages, so memory stays flat). */
  async *rows(accountId: string, range: UsageRange, batchSize = 1000): AsyncGenerator<RequestRecord[]> {
    let last: { at: string; id: string } | null = null;
    for (;;) {
      const query = this.scoped(accountId, range)
        .select('*')
        // The cursor is the row's own created_at text, so microseconds survive (a JS Date would drop them).
        .select(this.db.raw(`created_at::text AS cursor_at`));
      if (last) query.andWhereRaw('(created_at, id) > (?::timestamptz, ?)', [last.at, last.id]);
      const rows: Record<string, any>[] = await query.orderBy([{ column: 'created_at' }, { column: 'id' }]).limit(batchSize);
      if (rows.length === 0) return;
      yield rows.map(toRecord);
      if (rows.length < batchSize) return;
      const tail = rows.at(-1)!;
      last = { at: tail.cursor_at, id: tail.id };
    }
  }

  /** Which of `ids` are requests of the account (a disputed deduction must name its own requests). */
  async knownIds(accountId: string, ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    return new Set((await this.db('requests').where({ account_id: accountId }).whereIn('id', ids).pluck('id')) as string[]);
  }

  private scoped(accountId: string, range: UsageRange) {
    const query = this.db('requests').where('account_id', accountId);
    if (range.model !== undefined) query.andWhere('model', range.model);
    if (range.apiKeyId !== undefined) query.andWhere('api_key_id', range.apiKeyId);
    if (range.from) query.andWhere('created_at', '>=', range.from);
    if (range.to) query.andWhere('created_at', '<', range.to);
    return query;
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

/** A `requests` row as a RequestRecord. */
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
    cachedTokens: r.cached_tokens ?? null,
    cacheWriteTokens: r.cache_write_tokens ?? null,
  };
}
