import type { RequestRecord } from '../../src/chat/request-log.js';

/** A completed chat request's record, for tests that write request rows. */
export const requestRecord = (accountId: string, id: string, at: Date, over: Partial<RequestRecord> = {}): RequestRecord => ({
  id,
  accountId,
  apiKeyId: null,
  endpoint: '/v1/chat/completions',
  model: 'gpt-5.2',
  status: 'completed',
  httpStatus: 200,
  stream: false,
  promptTokens: 10,
  completionTokens: 5,
  cost: 123n,
  holdId: null,
  errorCode: null,
  upstreamLatencyMs: 3,
  overheadMs: 1,
  maxTokens: 100,
  usageSource: 'upstream',
  createdAt: at,
  completedAt: at,
  ...over,
});
