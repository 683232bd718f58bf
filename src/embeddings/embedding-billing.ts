import type { Logger } from 'pino';
import { placedInDoubt, type ChatBilling } from '../chat/chat-billing.js';
import type { PostgresLedger } from '../ledger/postgres-ledger.js';
import type { Hold } from '../ledger/types.js';
import type { ProcessLease } from '../ledger/process-lease.js';
import type { EmbeddingModel } from '../pricing/catalog.js';
import { embeddingCost } from '../pricing/cost.js';
import type { EmbeddingUpstream } from '../providers/chat/upstream.js';
import type { EmbeddingsRequest, EmbeddingsResponse } from '../providers/chat/embedding-types.js';
import { UpstreamProtocolError } from '../providers/chat/errors.js';
import type { EmbeddingPlan } from './embedding-request.js';

// Longer than the upstream client's timeout. A crashed process's holds are freed sooner, when its
// lease lapses; this deadline is the backstop.
const HOLD_TTL_MS = 30 * 60 * 1000;

export interface EmbeddingDeps {
  ledger: PostgresLedger;
  embeddingUpstream: EmbeddingUpstream;
  logger: Logger;
  /** Stamped on every hold, like chat's, so that the holds of a process that dies are released within a minute. */
  holdLease: ProcessLease;
  /**
   * Chat's capture: retried in-process, then handed to chatCaptureWorkflow when the database stays
   * away, so the charge of a delivered embedding lands exactly once like a chat answer's.
   */
  capture: Pick<ChatBilling, 'capture' | 'release' | 'releaseInDoubt'>;
}

export interface EmbeddingCall {
  accountId: string;
  /** The key whose spend limit the hold counts against (only a key with a limit). */
  apiKeyId?: string;
  requestId: string;
  model: EmbeddingModel;
  plan: Extract<EmbeddingPlan, { ok: true }>;
  upstreamRequest: EmbeddingsRequest;
  /** Told the hold id as soon as it is placed, so that a failure can still be logged against it. */
  onHold?: (holdId: string) => void;
}

export interface EmbeddingResult {
  response: EmbeddingsResponse;
  holdId: string;
  promptTokens: number;
  usageSource: 'upstream' | 'estimated';
  /** The exact price of the tokens at the model's rate. */
  cost: bigint;
  /** What was taken from the balance: the cost, never more than was held. */
  charge: bigint;
  upstreamMs: number;
}

/**
 * One embeddings call, billed like chat: the most its tokens may cost is held (402 when the
 * balance cannot cover it), the upstream is asked once, the cost of the tokens it reports is
 * captured and the rest released in the same statement; a failed call releases everything.
 *
 * The upstream call is not tied to the caller's connection: once sent it is billed upstream, so a
 * caller who hangs up is charged for it rather than the cost being given away.
 */
export async function embedAndBill(deps: EmbeddingDeps, call: EmbeddingCall): Promise<EmbeddingResult> {
  const idempotencyKey = `embedding:${call.requestId}`;
  let hold: Hold;
  try {
    ({ value: hold } = await deps.ledger.placeHold({
      accountId: call.accountId,
      amount: embeddingCost(call.model, call.plan.holdTokens) || 1n,
      idempotencyKey,
      // A synchronous token-priced request, settled by the process that placed it, like a chat hold.
      purpose: 'chat',
      requestId: call.requestId,
      apiKeyId: call.apiKeyId,
      leaseId: await deps.holdLease.id(),
      expiresAt: new Date(Date.now() + HOLD_TTL_MS),
    }));
  } catch (error) {
    // The database's answer was lost: the hold may exist though this call will never settle it.
    if (placedInDoubt(error)) void deps.capture.releaseInDoubt(idempotencyKey, call.requestId);
    throw error;
  }
  call.onHold?.(hold.id);
  // Settled through chat's billing: its capture (retried, durable) and its release.
  const chatHold = { holdId: hold.id, accountId: call.accountId, amount: hold.amount, maxTokens: 0 };
  const started = performance.now();
  let response: EmbeddingsResponse;
  try {
    response = await deps.embeddingUpstream.embed(call.upstreamRequest, { requestId: call.requestId });
    if (response.data.length !== call.plan.inputs.length) {
      throw new UpstreamProtocolError(`upstream returned ${response.data.length} embeddings for ${call.plan.inputs.length} inputs`);
    }
  } catch (error) {
    // Chat's release: a hold a database crash took before it was flushed is nothing to release.
    await deps.capture.release(chatHold);
    throw error;
  }
  const upstreamMs = performance.now() - started;
  const reported = response.usage?.prompt_tokens;
  const fromUpstream = Number.isSafeInteger(reported) && reported! >= 0;
  const promptTokens = fromUpstream ? reported! : call.plan.promptTokens;
  const cost = embeddingCost(call.model, promptTokens);
  const charge = cost < hold.amount ? cost : hold.amount;
  if (charge < cost) {
    deps.logger.warn({ requestId: call.requestId, holdId: hold.id, cost: cost.toString(), held: hold.amount.toString() }, 'embedding usage cost more than its hold; charged the hold');
  }
  await deps.capture.capture(
    chatHold,
    { promptTokens, completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, cost, charge },
    call.requestId,
  );
  return { response, holdId: hold.id, promptTokens, usageSource: fromUpstream ? 'upstream' : 'estimated', cost, charge, upstreamMs };
}
