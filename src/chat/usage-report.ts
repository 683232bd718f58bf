import type { Db } from '../db/connection.js';
import { toRecord, type RequestRecord } from './request-log.js';

/**
 * Spend over time from the `requests` table (one row per API call with the exact cost the ledger
 * took and the key that made it): buckets per UTC day or hour, per model or per key, and every
 * row of a period in batches for a streamed export. Reads only; RequestLog writes the rows.
 */
export type UsageGrouping = 'day' | 'hour' | 'model' | 'key';

export interface UsageRange {
  from?: Date;
  to?: Date;
  model?: string;
  apiKeyId?: string;
}

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

export class UsageReport {
  constructor(private readonly db: Db) {}

  private scoped(accountId: string, range: UsageRange) {
    const query = this.db('requests').where('account_id', accountId);
    if (range.model !== undefined) query.andWhere('model', range.model);
    if (range.apiKeyId !== undefined) query.andWhere('api_key_id', range.apiKeyId);
    if (range.from) query.andWhere('created_at', '>=', range.from);
    if (range.to) query.andWhere('created_at', '<', range.to);
    return query;
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
}
