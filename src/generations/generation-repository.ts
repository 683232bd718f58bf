import type { Knex } from 'knex';
import { RequestLog } from '../chat/request-log.js';
import type { KeySpend, SpendPeriods } from '../keys/key-spend.js';
import { ENDPOINT_FOR_KIND, httpStatusForFailure } from './generation-failures.js';
import type { GenerationFailure, GenerationKind, GenerationStatus, StoredAssetRef } from './generation-types.js';

export interface GenerationRecord {
  id: string;
  accountId: string;
  apiKeyId: string | null;
  kind: GenerationKind;
  model: string;
  prompt: string;
  params: Record<string, unknown>;
  n: number;
  status: GenerationStatus;
  progress: number;
  holdId: string | null;
  cost: bigint;
  error: GenerationFailure | null;
  assets: StoredAssetRef[];
  providerJob: string | null;
  requestId: string | null;
  idempotencyKey: string | null;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  deletedAt: Date | null;
}

export interface NewGeneration {
  id: string;
  accountId: string;
  apiKeyId: string;
  kind: GenerationKind;
  model: string;
  prompt: string;
  params: Record<string, unknown>;
  n: number;
  requestId: string;
  idempotencyKey?: string;
}

/** How a generation ended, as its row records it (the chat's Settlement is the charge of an answer). */
export interface GenerationEnding {
  status: 'completed' | 'failed';
  holdId: string | null;
  cost: bigint;
  assets: StoredAssetRef[];
  error?: GenerationFailure;
}

const OPEN: GenerationStatus[] = ['queued', 'in_progress'];

/**
 * The generations table, and the row of the per-request log a generation leaves when it ends. Every write
 * is conditional on the row still being open, so a retried activity or a late hold sweep cannot overwrite
 * a final outcome.
 */
export class GenerationRepository {
  constructor(private readonly db: Knex) {}

  /** Creates the generation, or returns the one an earlier request with the same Idempotency-Key created. */
  async create(input: NewGeneration): Promise<{ record: GenerationRecord; created: boolean }> {
    // The row we collided with may have been rejected (its key freed) in between: then insert again.
    for (let round = 0; round < 3; round++) {
      const outcome = await this.tryCreate(input);
      if (outcome) return outcome;
    }
    throw new Error(`could not create or find generation for idempotency key ${input.idempotencyKey}`);
  }

  // One statement on the fast path (a new row); the lookup of an existing row only on a key collision.
  private async tryCreate(input: NewGeneration): Promise<{ record: GenerationRecord; created: boolean } | null> {
    const inserted = await this.db.raw(
      `INSERT INTO generations (id, account_id, api_key_id, kind, model, prompt, params, n, status, request_id, idempotency_key)
       VALUES (:id, :accountId, :apiKeyId, :kind, :model, :prompt, :params, :n, 'queued', :requestId, :key)
       ON CONFLICT (account_id, idempotency_key) DO NOTHING
       RETURNING *`,
      {
        id: input.id,
        accountId: input.accountId,
        apiKeyId: input.apiKeyId,
        kind: input.kind,
        model: input.model,
        prompt: input.prompt,
        params: JSON.stringify(input.params),
        n: input.n,
        requestId: input.requestId,
        key: input.idempotencyKey ?? null,
      },
    );
    if (inserted.rows.length) return { record: toRecord(inserted.rows[0]), created: true };
    const existing = await this.db('generations').where({ account_id: input.accountId, idempotency_key: input.idempotencyKey }).first();
    return existing ? { record: toRecord(existing), created: false } : null;
  }

  async get(id: string): Promise<GenerationRecord | null> {
    const row = await this.db('generations').where({ id }).first();
    return row ? toRecord(row) : null;
  }

  /** What the owner may see: never another account's, a deleted one, or a request refused at the hold. */
  async findVisible(accountId: string, id: string, kind: GenerationKind): Promise<GenerationRecord | null> {
    const row = await this.db('generations')
      .where({ id, account_id: accountId, kind })
      .whereNull('deleted_at')
      .whereNot('status', 'rejected')
      .first();
    return row ? toRecord(row) : null;
  }

  async list(accountId: string, kind: GenerationKind, page: { after?: string; limit: number; order: 'asc' | 'desc' }): Promise<GenerationRecord[]> {
    const q = this.db('generations')
      .where({ account_id: accountId, kind })
      .whereNull('deleted_at')
      .whereNot('status', 'rejected')
      .orderBy([{ column: 'created_at', order: page.order }, { column: 'id', order: page.order }])
      .limit(page.limit);
    if (page.after) {
      const cursor = await this.db('generations').select('created_at', 'id').where({ id: page.after, account_id: accountId }).first();
      if (cursor) q.whereRaw(`(created_at, id) ${page.order === 'desc' ? '<' : '>'} (?, ?)`, [cursor.created_at, cursor.id]);
    }
    return (await q).map(toRecord);
  }

  async markStarted(id: string, providerJob: string): Promise<void> {
    await this.db('generations')
      .where({ id })
      .whereIn('status', OPEN)
      .update({ status: 'in_progress', provider_job: providerJob, started_at: this.db.raw('coalesce(started_at, now())') });
  }

  async markProgress(id: string, progress: number): Promise<void> {
    await this.db('generations').where({ id, status: 'in_progress' }).andWhere('progress', '<', progress).update({ progress });
  }

  /** Refused at the hold: hidden from the user, and its Idempotency-Key freed so a retry after a top-up starts afresh. */
  async markRejected(id: string, db: Knex = this.db, code: 'insufficient_funds' | 'key_limit_exceeded' = 'insufficient_funds'): Promise<void> {
    const [row] = await db('generations')
      .where({ id })
      .whereIn('status', OPEN)
      .update({ status: 'rejected', idempotency_key: null, error_code: code, completed_at: db.fn.now() })
      .returning('*');
    if (row) await logRequest(db, toRecord(row), 402);
  }

  /** Records the final outcome; run in the same transaction as the capture or release it describes. */
  async settle(db: Knex, id: string, s: GenerationEnding): Promise<boolean> {
    const [row] = await db('generations')
      .where({ id })
      .whereIn('status', OPEN)
      .update({
        status: s.status,
        progress: s.status === 'completed' ? 100 : db.raw('progress'),
        hold_id: s.holdId,
        cost: s.cost.toString(),
        assets: JSON.stringify(s.assets),
        error_code: s.error?.code ?? null,
        error_message: s.error?.message ?? null,
        completed_at: db.fn.now(),
      })
      .returning('*');
    if (!row) return false;
    const record = toRecord(row);
    // A video's POST was answered 200 long before; an image request is answered with the outcome.
    await logRequest(db, record, record.kind === 'video' || s.status === 'completed' ? 200 : httpStatusForFailure(s.error?.code ?? ''));
    return true;
  }

  /** Generations still queued or in progress that were created before `olderThan`, oldest first. */
  async findUnsettled(olderThan: Date, limit: number): Promise<string[]> {
    const rows: { id: string }[] = await this.db('generations')
      .select('id')
      .whereIn('status', ['queued', 'in_progress'])
      .andWhere('created_at', '<', olderThan)
      .orderBy('created_at')
      .limit(limit);
    return rows.map((r) => r.id);
  }

  async markDeleted(id: string): Promise<void> {
    await this.db('generations').where({ id }).whereNull('deleted_at').update({ deleted_at: this.db.fn.now() });
  }
}

async function logRequest(db: Knex, g: GenerationRecord, httpStatus: number): Promise<void> {
  if (!g.requestId) return;
  await new RequestLog(db).record({
    id: g.requestId,
    accountId: g.accountId,
    apiKeyId: g.apiKeyId,
    endpoint: ENDPOINT_FOR_KIND[g.kind],
    model: g.model,
    status: g.status === 'completed' ? 'completed' : 'failed',
    httpStatus,
    stream: false,
    promptTokens: null,
    completionTokens: null,
    cost: g.cost,
    holdId: g.holdId,
    errorCode: g.error?.code ?? null,
    upstreamLatencyMs: g.startedAt && g.completedAt ? g.completedAt.getTime() - g.startedAt.getTime() : null,
    overheadMs: 0,
    maxTokens: null,
    usageSource: null,
    createdAt: g.createdAt,
    completedAt: g.completedAt ?? new Date(),
  });
}

function toRecord(r: Record<string, any>): GenerationRecord {
  return {
    id: r.id,
    accountId: r.account_id,
    apiKeyId: r.api_key_id,
    kind: r.kind,
    model: r.model,
    prompt: r.prompt,
    params: r.params ?? {},
    n: r.n,
    status: r.status,
    progress: r.progress,
    holdId: r.hold_id,
    cost: typeof r.cost === 'bigint' ? r.cost : BigInt(r.cost ?? 0),
    error: r.error_code ? { code: r.error_code, message: r.error_message ?? '' } : null,
    assets: r.assets ?? [],
    providerJob: r.provider_job,
    requestId: r.request_id,
    idempotencyKey: r.idempotency_key,
    createdAt: r.created_at,
    startedAt: r.started_at,
    completedAt: r.completed_at,
    deletedAt: r.deleted_at,
  };
}
