import { WithStartWorkflowOperation } from '@temporalio/client';
import { expect } from 'vitest';
import { GenerationRepository } from '../../src/generations/generation-repository.js';
import { timingFor } from '../../src/generations/generation-starter.js';
import type { GenerationInput, GenerationTiming, HoldOutcome } from '../../src/generations/generation-types.js';
import { newId } from '../../src/ids.js';
import { generationWorkflow, placeHoldUpdate } from '../../workflows/generation.js';
import { listenGeminiSandbox, type ListeningGeminiSandbox } from '../../src/sandboxes/gemini/gemini-sandbox.js';
import { startHarness, type Harness } from '../support/harness.js';
import { useHarness } from '../support/suite-harness.js';

export const PRICE = 210_000_000n;
export const GEMINI_KEY = 'gemini-test-key';

export interface GenerationHarness {
  h: Harness;
  gemini: ListeningGeminiSandbox;
  stop(): Promise<void>;
}

/** The service on the real servers, its Gemini adapter pointed at a simulated Gemini of the test's own (zero delay). */
export async function harnessWithGemini(o: { worker?: boolean; env?: Record<string, string> } = {}): Promise<GenerationHarness> {
  const gemini = await listenGeminiSandbox({ apiKey: GEMINI_KEY, imageDelayMs: 0, videoDelayMs: 0 });
  const h = await startHarness({
    worker: o.worker,
    env: { GEMINI_API_KEY: GEMINI_KEY, GEMINI_BASE_URL: gemini.baseUrl, GENERATION_POLL_INTERVAL: '1', ...o.env },
  });
  return {
    h,
    gemini,
    async stop() {
      await h.close();
      await gemini.close();
    },
  };
}

/** useHarness over harnessWithGemini, for a suite that also reads or steers its simulated Gemini. */
export function useGeminiHarness(set: (suite: { h: Harness; gemini: ListeningGeminiSandbox }) => void, o: { worker?: boolean; env?: Record<string, string> } = {}): void {
  let gemini: ListeningGeminiSandbox;
  useHarness(
    async () => {
      const started = await harnessWithGemini(o);
      gemini = started.gemini;
      return started;
    },
    (h) => set({ h, gemini }),
  );
}

/** Polls `probe` every 100 ms until it returns a value other than undefined; fails after `attempts`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, attempts = 300): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('condition not reached');
}

/** Waits until the generation's workflow has closed, then returns its row. */
export async function settled(h: Harness, generationId: string) {
  await h.services.temporal.client.workflow.getHandle(`generation-${generationId}`).result().catch(() => undefined);
  return (await new GenerationRepository(h.services.db).get(generationId))!;
}

export async function holdOf(h: Harness, generationId: string) {
  return h.services.db('holds').where({ idempotency_key: `generation:${generationId}:hold` }).first();
}

export async function capturesOf(h: Harness, generationId: string) {
  return h.services.db('ledger_entries').where({ generation_id: generationId, kind: 'generation_capture' });
}

export async function balanceOf(h: Harness, accountId: string) {
  return h.services.ledger.balance(accountId);
}

/**
 * Starts a generation the way the API does (row, then update-with-start) but with the timing the test
 * chooses, e.g. fast provider retries.
 */
export async function startDirect(
  h: Harness,
  o: { accountId: string; kind: 'image' | 'video'; prompt: string; count?: number; timing?: Partial<GenerationTiming> },
): Promise<{ generationId: string; hold: HoldOutcome }> {
  const generationId = newId(o.kind === 'video' ? 'video' : 'img');
  const requestId = newId('req');
  const model = o.kind === 'video' ? h.services.catalog.generation('veo-3.1')! : h.services.catalog.generation('nano-banana-2')!;
  await new GenerationRepository(h.services.db).create({
    id: generationId,
    accountId: o.accountId,
    apiKeyId: 'key_test',
    kind: o.kind,
    model: model.id,
    prompt: o.prompt,
    params: o.kind === 'video' ? { seconds: '8', size: '1280x720' } : {},
    n: o.count ?? 1,
    requestId,
  });
  const input: GenerationInput = {
    generationId,
    accountId: o.accountId,
    requestId,
    kind: o.kind,
    model: model.id,
    upstreamModel: model.upstream_model,
    prompt: o.prompt,
    count: o.count ?? 1,
    unitPriceNanos: model.per_generation_nanos.toString(),
    video: o.kind === 'video' ? { aspectRatio: '16:9', durationSeconds: 8, resolution: '720p' } : undefined,
    timing: { ...timingFor(h.services.config.generations, o.kind), ...o.timing },
  };
  const hold = await h.services.temporal.client.workflow.executeUpdateWithStart(placeHoldUpdate, {
    startWorkflowOperation: new WithStartWorkflowOperation(generationWorkflow, {
      workflowId: `generation-${generationId}`,
      taskQueue: h.services.temporal.taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
    }),
  });
  return { generationId, hold };
}

/** The money invariants after a failure: nothing charged, the hold released, the books balanced. */
export async function expectNothingCharged(h: Harness, accountId: string, generationId: string, balanceBefore: bigint) {
  const b = await balanceOf(h, accountId);
  expect(b.balance).toBe(balanceBefore);
  expect(b.held).toBe(0n);
  expect(await capturesOf(h, generationId)).toHaveLength(0);
  const hold = await holdOf(h, generationId);
  if (hold) expect(['released', 'expired']).toContain(hold.status);
  await h.expectBooksBalanced();
}
