import { randomBytes } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { createGenerationActivities } from '../../src/generations/generation-activities.js';
import type { GenerationInput, GenerationResult } from '../../src/generations/generation-types.js';
import { WORKFLOWS_PATH } from '../../src/temporal/worker.js';
import { generationStateQuery, generationWorkflow, placeHoldUpdate } from '../../workflows/generation.js';

// generationWorkflow alone, branch by branch: the real dev server runs the workflow, every activity is
// a stand-in recording its calls. The end-to-end tests (generation.test.ts) prove the activities.
type Activities = ReturnType<typeof createGenerationActivities>;

const PRICE = '210000000';
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };

let bundle: WorkflowBundle;
let connection: Connection;
let client: Client;

beforeAll(async () => {
  bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quiet });
  connection = await Connection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection, namespace: inject('temporalNamespace') });
});
afterAll(async () => {
  await connection?.close();
});

function inputFor(kind: 'image' | 'video', o: Partial<GenerationInput> = {}): GenerationInput {
  return {
    generationId: `${kind}_${randomBytes(6).toString('hex')}`,
    accountId: 'acct_test',
    requestId: 'req_test',
    kind,
    model: kind === 'image' ? 'nano-banana-2' : 'veo-3.1',
    upstreamModel: 'upstream',
    prompt: 'a test',
    count: 1,
    unitPriceNanos: PRICE,
    video: kind === 'video' ? { aspectRatio: '16:9', durationSeconds: 8, resolution: '720p' } : undefined,
    timing: { deadlineMs: 20_000, pollIntervalMs: 50, expectedMs: 1_000, holdTtlMs: 60_000, providerRetry: { initialIntervalMs: 10, maximumAttempts: 1 } },
    ...o,
  };
}

type Calls = Record<string, unknown[]>;

/** Stand-ins for every activity (each records its arguments); a test overrides the ones its branch needs. */
function fakeActivities(calls: Calls, overrides: Partial<Activities>): Activities {
  const record = <A extends unknown[], R>(name: string, fn: (...a: A) => Promise<R>) => async (...a: A) => {
    (calls[name] ??= []).push(a[0]);
    return fn(...a);
  };
  const base: Activities = {
    placeGenerationHold: async () => ({ ok: true, holdId: 'hold_1' }),
    releaseGenerationHold: async () => undefined,
    generateImage: async (a) => ({ index: a.index, key: `k/${a.index}`, size: 1, sha256: 'x', contentType: 'image/png' }),
    submitVideo: async () => 'op-1',
    checkVideo: async () => ({ state: 'done' }),
    awaitVideo: async () => undefined,
    storeVideo: async () => ({ index: 0, key: 'k/video', size: 1, sha256: 'x', contentType: 'video/mp4' }),
    recordVideoStarted: async () => undefined,
    recordVideoProgress: async () => undefined,
    discardAssets: async () => undefined,
    settleGeneration: async (a) =>
      a.failure ? { status: 'failed', chargedNanos: '0', error: a.failure } : { status: 'completed', chargedNanos: a.captureNanos },
  };
  const merged = { ...base, ...overrides } as Record<string, (...a: unknown[]) => Promise<unknown>>;
  return Object.fromEntries(Object.entries(merged).map(([k, fn]) => [k, record(k, fn)])) as unknown as Activities;
}

/** Starts the workflow as the API does (update-with-start) and runs it to its end on a worker with `activities`. */
async function run(input: GenerationInput, overrides: Partial<Activities>, during?: (workflowId: string) => Promise<void>, start: { workflowTaskTimeout?: string } = {}) {
  const calls: Calls = {};
  const taskQueue = `wf-test-${randomBytes(5).toString('hex')}`;
  const worker = await Worker.create({ connection: await nativeConnection(), namespace: inject('temporalNamespace'), taskQueue, workflowBundle: bundle, activities: fakeActivities(calls, overrides) });
  const workflowId = `generation-${input.generationId}`;
  const outcome = await worker.runUntil(async () => {
    const hold = await client.workflow.executeUpdateWithStart(placeHoldUpdate, {
      startWorkflowOperation: new WithStartWorkflowOperation(generationWorkflow, { workflowId, taskQueue, args: [input], workflowIdConflictPolicy: 'FAIL', ...start }),
    });
    await during?.(workflowId);
    const result: GenerationResult = await client.workflow.getHandle(workflowId).result();
    const state = await client.workflow.getHandle(workflowId).query(generationStateQuery);
    return { hold, result, state };
  });
  return { ...outcome, calls, workflowId };
}

/** How many events of each type the run's history holds (EVENT_TYPE_ prefix dropped), and in all. */
async function historyCounts(workflowId: string): Promise<{ total: number } & Record<string, number>> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const counts: Record<string, number> = { total: 0 };
  for (const event of history.events ?? []) {
    const type = temporal.api.enums.v1.EventType[event.eventType!].replace(/^EVENT_TYPE_/, '');
    counts[type] = (counts[type] ?? 0) + 1;
    counts.total++;
  }
  return counts as { total: number } & Record<string, number>;
}

let native: NativeConnection | undefined;
async function nativeConnection() {
  native ??= await NativeConnection.connect({ address: inject('temporalAddress') });
  return native;
}
afterAll(async () => {
  await native?.close();
});

const refused = () => ApplicationFailure.nonRetryable('blocked', 'GenerationRefused', 'SAFETY');
const stillRendering = () => ApplicationFailure.create({ message: 'still rendering', type: 'VideoNotReady', nextRetryDelay: 20 });

describe('generationWorkflow, branch by branch (stand-in activities)', () => {
  it('captures $0.21 for a delivered image', async () => {
    const { hold, result, calls } = await run(inputFor('image'), {});
    expect(hold).toEqual({ ok: true, holdId: 'hold_1' });
    expect(result).toMatchObject({ status: 'completed', chargedNanos: PRICE });
    expect(calls.settleGeneration).toEqual([expect.objectContaining({ holdId: 'hold_1', captureNanos: PRICE })]);
    expect(calls.releaseGenerationHold).toBeUndefined();
  });

  it('runs an image from hold to capture in one workflow task, with no activity task', async () => {
    const { result, workflowId } = await run(inputFor('image'), {});
    expect(result).toMatchObject({ status: 'completed', chargedNanos: PRICE });
    const counts = await historyCounts(workflowId);
    // 13 events (17 before): markers for the patch, the hold, the picture and the settlement; upserts of the
    // patch's own attribute and of the final status.
    expect(counts).toMatchObject({ total: 13, WORKFLOW_TASK_COMPLETED: 1, MARKER_RECORDED: 4, UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: 2 });
    expect(counts.ACTIVITY_TASK_SCHEDULED).toBeUndefined();
    expect(counts.TIMER_STARTED).toBeUndefined();
  });

  it('answers the hold while a slow picture is still being drawn (the long task is completed early)', async () => {
    let holdAnswered!: () => void;
    const answered = new Promise<void>((r) => (holdAnswered = r));
    let drawnBeforeTheAnswer: boolean | undefined;
    let drawn = false;
    const { hold, result } = await run(
      inputFor('image'),
      {
        generateImage: async (a) => {
          // Drawn when the test has heard the hold's answer, or after 10 s if it never comes first.
          await Promise.race([answered, Context.current().sleep(10_000)]);
          drawn = true;
          return { index: a.index, key: `k/${a.index}`, size: 1, sha256: 'x', contentType: 'image/png' };
        },
      },
      async () => {
        drawnBeforeTheAnswer = drawn;
        holdAnswered();
      },
      { workflowTaskTimeout: '2 seconds' },
    );
    expect(hold).toEqual({ ok: true, holdId: 'hold_1' });
    expect(drawnBeforeTheAnswer).toBe(false);
    expect(result).toMatchObject({ status: 'completed', chargedNanos: PRICE });
  });

  it('answers the update with the refusal and settles nothing when funds are insufficient', async () => {
    const { hold, result, calls } = await run(inputFor('image'), {
      placeGenerationHold: async () => ({ ok: false, reason: 'insufficient_funds', availableNanos: '0', requiredNanos: PRICE }),
    });
    expect(hold).toMatchObject({ ok: false, reason: 'insufficient_funds' });
    expect(result.status).toBe('rejected');
    expect(calls.settleGeneration).toBeUndefined();
    expect(calls.generateImage).toBeUndefined();
  });

  it('releases by key and answers unavailable when the hold cannot be placed', async () => {
    const { hold, result, calls } = await run(inputFor('image'), {
      placeGenerationHold: async () => {
        throw ApplicationFailure.nonRetryable('no such account', 'AccountNotFound');
      },
    });
    expect(hold).toMatchObject({ ok: false, reason: 'unavailable' });
    expect(result).toMatchObject({ status: 'failed', chargedNanos: '0', error: { code: 'unavailable' } });
    expect(calls.releaseGenerationHold).toHaveLength(1);
  });

  it('charges only the delivered images of a batch', async () => {
    const { result, calls } = await run(inputFor('image', { count: 3 }), {
      generateImage: async (a) => {
        if (a.index === 1) throw refused();
        return { index: a.index, key: `k/${a.index}`, size: 1, sha256: 'x', contentType: 'image/png' };
      },
    });
    expect(result).toMatchObject({ status: 'completed', chargedNanos: '420000000' });
    expect((calls.settleGeneration![0] as { assets: unknown[] }).assets).toHaveLength(2);
  });

  it.each([
    ['content_policy_violation', () => refused()],
    ['invalid_request', () => ApplicationFailure.nonRetryable('bad size', 'ProviderRejected', 'invalid_request')],
    ['provider_error', () => ApplicationFailure.create({ message: 'down', type: 'ProviderUnavailable' })],
  ])('releases the hold (settles with %s) when the only image fails', async (code, failure) => {
    const { result, calls } = await run(inputFor('image'), {
      generateImage: async () => {
        throw failure();
      },
    });
    expect(result).toMatchObject({ status: 'failed', chargedNanos: '0', error: { code } });
    expect(calls.settleGeneration).toEqual([expect.objectContaining({ captureNanos: '0', failure: expect.objectContaining({ code }) })]);
  });

  it('settles an image that outlives its deadline as timeout, whichever timeout the worker names', async () => {
    // As generateImage does: the call stops itself at its deadline. The worker's own timer falls due at the
    // same moment and names it schedule-to-close or start-to-close by a race (about a third were the
    // latter, once answered provider_error): eight runs make the second kind near certain to appear.
    const results = await Promise.all(
      [300, 400, 500, 600, 300, 400, 500, 600].map(async (deadlineMs) => {
        const { result } = await run(inputFor('image', { timing: { ...inputFor('image').timing, deadlineMs } }), {
          generateImage: async () => {
            await Context.current().sleep(deadlineMs * 2);
            throw ApplicationFailure.nonRetryable('the provider did not answer before the deadline', 'DeadlineExceeded');
          },
        });
        return result;
      }),
    );
    for (const result of results) expect(result).toMatchObject({ status: 'failed', chargedNanos: '0', error: { code: 'timeout' } });
  });

  it('polls a video by retrying one activity until done, records its start, stores it and captures', async () => {
    let looks = 0;
    const { result, state, calls } = await run(inputFor('video'), {
      awaitVideo: async () => {
        if (++looks < 3) throw stillRendering();
      },
    });
    expect(result).toMatchObject({ status: 'completed', chargedNanos: PRICE, assets: [expect.objectContaining({ key: 'k/video' })] });
    expect(state).toMatchObject({ status: 'completed', progress: 100, delivered: 1, providerJob: 'op-1' });
    expect(calls.recordVideoStarted).toEqual([{ generationId: expect.any(String), providerJob: 'op-1' }]);
    expect(looks).toBe(3);
    expect(calls.checkVideo).toBeUndefined();
    expect(calls.storeVideo).toHaveLength(1);
  });

  it.each([
    ['content_policy_violation', () => refused()],
    ['provider_error', () => ApplicationFailure.nonRetryable('internal', 'ProviderFailed', '13')],
  ])('releases the hold (settles with %s) when the provider ends the video job without a video', async (code, failure) => {
    const { result, calls } = await run(inputFor('video'), {
      awaitVideo: async () => {
        throw failure();
      },
    });
    expect(result).toMatchObject({ status: 'failed', chargedNanos: '0', error: { code } });
    expect(calls.storeVideo).toBeUndefined();
  });

  it('settles a video that outlives its deadline as timeout', async () => {
    const { result } = await run(inputFor('video', { timing: { ...inputFor('video').timing, deadlineMs: 600 } }), {
      awaitVideo: async () => {
        throw stillRendering();
      },
    });
    expect(result).toMatchObject({ status: 'failed', chargedNanos: '0', error: { code: 'timeout' } });
  });

  it('finishes and charges a video the provider accepted even when the workflow is cancelled', async () => {
    let cancelled = false;
    const { result } = await run(
      inputFor('video'),
      {
        awaitVideo: async () => {
          if (!cancelled) throw stillRendering();
        },
      },
      async (workflowId) => {
        await client.workflow.getHandle(workflowId).cancel();
        cancelled = true;
      },
    );
    expect(result).toMatchObject({ status: 'completed', chargedNanos: PRICE });
  });

  it('charges nothing when cancelled while the hold is being placed', async () => {
    let release!: () => void;
    const placing = new Promise<void>((r) => (release = r));
    const input = inputFor('video');
    const calls: Calls = {};
    const taskQueue = `wf-test-${randomBytes(5).toString('hex')}`;
    const worker = await Worker.create({
      connection: await nativeConnection(),
      namespace: inject('temporalNamespace'),
      taskQueue,
      workflowBundle: bundle,
      activities: fakeActivities(calls, {
        placeGenerationHold: async () => {
          await placing;
          await Context.current().sleep(60_000);
          return { ok: true, holdId: 'hold_1' };
        },
      }),
    });
    const workflowId = `generation-${input.generationId}`;
    const status = await worker.runUntil(async () => {
      const handle = await client.workflow.start(generationWorkflow, { workflowId, taskQueue, args: [input] });
      await new Promise((r) => setTimeout(r, 200));
      release();
      await handle.cancel();
      await handle.result().catch(() => undefined);
      return (await handle.describe()).status.name;
    });
    expect(['CANCELLED', 'COMPLETED']).toContain(status);
    expect(calls.releaseGenerationHold).toEqual([{ generationId: input.generationId, failure: expect.objectContaining({ code: 'cancelled' }) }]);
    expect(calls.submitVideo).toBeUndefined();
    expect(calls.settleGeneration).toBeUndefined();
  });
});
