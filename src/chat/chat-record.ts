import type { ChatHold } from './chat-billing.js';
import type { SettledCall } from './chat-call.js';
import type { RequestRecord, RequestStatus } from './request-log.js';

/** What the answer said, beside the outcome: the HTTP status sent and the error code, if any. */
export interface ChatAnswered {
  status: RequestStatus;
  httpStatus: number;
  errorCode: string | null;
}

export interface ChatRecordInput {
  requestId: string;
  accountId: string;
  apiKeyId: string;
  endpoint: string;
  /** As the caller named it (even when invalid), at most 200 characters. */
  model: string | null;
  stream: boolean;
  startedAt: Date;
  /** performance.now() when the request arrived. */
  started: number;
  hold: ChatHold | null;
  /** Null when the call ended before its upstream call (refused, or an unexpected failure). */
  outcome: SettledCall | null;
  answered: ChatAnswered;
}

/** The one place a chat request's log row is built: from its outcome and what the caller was answered. */
export function chatRequestRecord(r: ChatRecordInput): RequestRecord {
  const o = r.outcome;
  const upstreamMs = o?.upstreamMs ?? null;
  return {
    id: r.requestId,
    accountId: r.accountId,
    apiKeyId: r.apiKeyId,
    endpoint: r.endpoint,
    model: r.model,
    status: r.answered.status,
    httpStatus: r.answered.httpStatus,
    stream: r.stream,
    promptTokens: o?.settlement.promptTokens ?? null,
    completionTokens: o?.settlement.completionTokens ?? null,
    // Only the provider's own report has a cache split; an estimate leaves it unknown.
    cachedTokens: o?.usageSource === 'upstream' ? o.settlement.cachedTokens : null,
    cacheWriteTokens: o?.usageSource === 'upstream' ? o.settlement.cacheWriteTokens : null,
    cost: o?.settlement.charge ?? 0n,
    holdId: r.hold?.holdId ?? null,
    errorCode: r.answered.errorCode,
    upstreamLatencyMs: upstreamMs === null ? null : Math.round(upstreamMs),
    overheadMs: Math.max(0, Math.round(performance.now() - r.started - (upstreamMs ?? 0))),
    maxTokens: r.hold?.maxTokens ?? null,
    usageSource: o?.usageSource ?? null,
    createdAt: r.startedAt,
    completedAt: new Date(),
  };
}
