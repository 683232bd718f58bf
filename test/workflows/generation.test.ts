import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { temporal } from '@temporalio/proto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ModelAttr, KindAttr, AccountIdAttr, StatusAttr } from '../../src/temporal/search-attributes.js';
import { SCHEDULES, ensureSchedules } from '../../src/temporal/schedules.js';
import type { ListeningGeminiSandbox } from '../../src/sandboxes/gemini/gemini-sandbox.js';
import { generationStateQuery } from '../../workflows/generation.js';
import type { Harness } from '../support/harness.js';
import { GEMINI_KEY, PRICE, balanceOf, harnessWithGemini, capturesOf, eventually, expectNothingCharged, holdOf, settled, startDirect } from './generation-fixtures.js';


async function videoStatus(h: Harness, key: string, id: string) {
  return (await (await h.call('GET', `/v1/videos/${id}`, { key })).json()).status as string;
}

describe('generation workflows on the real Temporal server', () => {
  let gemini: ListeningGeminiSandbox;
  let h: Harness;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ h, gemini, stop } = await harnessWithGemini());
  });
  afterAll(async () => {
    await stop?.();
  });
  afterEach(async () => {
    await h.expectBooksBalanced();
  });

  it('charges exactly $0.21 once for a delivered video, however many times the request is retried', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const post = () => h.call('POST', '/v1/videos', { key, body: { prompt: 'a calm lake at dawn', size: '1280x720' }, headers: { 'idempotency-key': 'video-once' } });
    const answers = await Promise.all([post(), post(), post()]);
    const ids = await Promise.all(answers.map(async (r) => (await r.json()).id));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(new Set(ids).size).toBe(1);
    const row = await settled(h, ids[0]);
    expect(row.status).toBe('completed');
    const late = await (await post()).json();
    expect(late).toMatchObject({ id: ids[0], status: 'completed' });

    const balance = await balanceOf(h, accountId);
    expect(balance.balance).toBe(1_000_000_000n - PRICE);
    expect(balance.held).toBe(0n);
    const captures = await capturesOf(h, ids[0]);
    expect(captures.map((c) => c.amount)).toEqual([-PRICE]);
    expect((await holdOf(h, ids[0])).status).toBe('captured');
  });

  it('charges nothing when the provider refuses: a blocked image prompt, a safety-filtered video', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const image = await h.call('POST', '/v1/images/generations', { key, body: { prompt: 'something awful [fail:safety]' } });
    expect(image.status).toBe(400);
    expect((await image.json()).error.code).toBe('content_policy_violation');
    const imageId = image.headers.get('x-generation-id')!;
    await expectNothingCharged(h, accountId, imageId, 1_000_000_000n);

    const video = await (await h.call('POST', '/v1/videos', { key, body: { prompt: 'something awful [fail:safety]' } })).json();
    const row = await settled(h, video.id);
    expect(row).toMatchObject({ status: 'failed', error: { code: 'content_policy_violation' } });
    await expectNothingCharged(h, accountId, video.id, 1_000_000_000n);
  });

  it('charges nothing when a provider call keeps failing until its retries run out', async () => {
    const { accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const calls = gemini.simulator.counters.generateContent;
    const { generationId, hold } = await startDirect(h, {
      accountId,
      kind: 'image',
      prompt: 'a boat [fail:http503]',
      timing: { providerRetry: { initialIntervalMs: 50, maximumAttempts: 3 } },
    });
    expect(hold.ok).toBe(true);
    const row = await settled(h, generationId);
    expect(row).toMatchObject({ status: 'failed', error: { code: 'provider_error' } });
    expect(gemini.simulator.counters.generateContent - calls).toBe(3);
    await expectNothingCharged(h, accountId, generationId, 1_000_000_000n);
  });

  it('charges only the images delivered when one of a batch fails for good', async () => {
    const { accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const { generationId } = await startDirect(h, {
      accountId,
      kind: 'image',
      count: 2,
      prompt: `two ducks ${randomBytes(4).toString('hex')} [flaky:1]`,
      timing: { providerRetry: { initialIntervalMs: 50, maximumAttempts: 1 } },
    });
    const row = await settled(h, generationId);
    expect(row.status).toBe('completed');
    expect(row.assets).toHaveLength(1);
    expect(row.cost).toBe(PRICE);
    expect((await capturesOf(h, generationId)).map((c) => c.amount)).toEqual([-PRICE]);
    expect(await balanceOf(h, accountId)).toMatchObject({ balance: 1_000_000_000n - PRICE, held: 0n });
  });

  it('charges nothing when a queued video is cancelled with DELETE /v1/videos/{id} before the provider accepted it', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const { generationId } = await startDirect(h, {
      accountId,
      kind: 'video',
      prompt: 'a sunset nobody accepts [fail:http503]',
      timing: { providerRetry: { initialIntervalMs: 200, maximumAttempts: 3 } },
    });
    const deleted = await h.call('DELETE', `/v1/videos/${generationId}`, { key });
    expect(await deleted.json()).toEqual({ id: generationId, object: 'video.deleted', deleted: true });
    expect((await settled(h, generationId)).status).toBe('failed');
    expect((await h.call('GET', `/v1/videos/${generationId}`, { key })).status).toBe(404);
    await expectNothingCharged(h, accountId, generationId, 1_000_000_000n);
  });

  it('never overspends when many generations race for a small balance', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '0.50' });
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        i % 2
          ? h.call('POST', '/v1/images/generations', { key, body: { prompt: `racing image ${i}` } })
          : h.call('POST', '/v1/videos', { key, body: { prompt: `racing video ${i}` } }),
      ),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(2);
    expect(statuses.filter((s) => s === 402)).toHaveLength(8);
    for (const r of answers.filter((a) => a.status === 402)) {
      expect((await r.json()).error).toMatchObject({ type: 'insufficient_funds', code: 'insufficient_funds' });
    }
    const videoIds = await Promise.all(answers.filter((r, i) => r.status === 200 && i % 2 === 0).map(async (r) => (await r.json()).id));
    for (const id of videoIds) expect((await settled(h, id)).status).toBe('completed');
    expect(await balanceOf(h, accountId)).toMatchObject({ balance: 500_000_000n - 2n * PRICE, held: 0n });
  });

  it('answers a state query and carries the search attributes ops filter by', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const video = await (await h.call('POST', '/v1/videos', { key, body: { prompt: 'a glacier [delay:3000]' } })).json();
    const handle = h.services.temporal.client.workflow.getHandle(`generation-${video.id}`);
    const state = await handle.query(generationStateQuery);
    expect(state).toMatchObject({ generationId: video.id, kind: 'video' });
    expect(state.holdId).toMatch(/^hold_/);
    await settled(h, video.id);
    const info = await handle.describe();
    expect(info.typedSearchAttributes.get(AccountIdAttr)).toBe(accountId);
    expect(info.typedSearchAttributes.get(ModelAttr)).toBe('veo-3.1');
    expect(info.typedSearchAttributes.get(KindAttr)).toBe('video');
    expect(info.typedSearchAttributes.get(StatusAttr)).toBe('completed');
    expect(await handle.query(generationStateQuery)).toMatchObject({ status: 'completed', progress: 100, delivered: 1, chargedNanos: PRICE.toString() });
  });

  it("releases, through the Schedule's hold sweep, the hold of a workflow an operator terminated", async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const { client, taskQueue } = h.services.temporal;
    const doomed = await (await h.call('POST', '/v1/videos', { key, body: { prompt: 'doomed [slow]' } })).json();
    const alive = await (await h.call('POST', '/v1/videos', { key, body: { prompt: 'still rendering [slow]' } })).json();
    await eventually(async () => ((await videoStatus(h, key, doomed.id)) === 'in_progress' ? true : undefined));
    await client.workflow.getHandle(`generation-${doomed.id}`).terminate('operator stopped it');
    expect((await holdOf(h, doomed.id)).status).toBe('pending');
    // An overdue hold of another kind, which the sweep expires.
    const overdue = await h.services.ledger.placeHold({ accountId, amount: 1_000_000n, idempotencyKey: `overdue-${accountId}`, purpose: 'chat', expiresAt: new Date(Date.now() - 1000) });
    // The sweep leaves generations younger than two minutes alone (their workflow may be starting): age them.
    for (const table of ['generations', 'holds'] as const) {
      await h.services.db(table).where('account_id', accountId).update({ created_at: h.services.db.raw(`now() - interval '5 minutes'`) });
    }

    const spec = { ...SCHEDULES.find((s) => s.scheduleId === 'hold-reconciler')!, scheduleId: `hold-reconciler-test-${randomBytes(4).toString('hex')}` };
    await ensureSchedules(client, taskQueue, [spec]);
    const schedule = client.schedule.getHandle(spec.scheduleId);
    try {
      await schedule.trigger();
      await eventually(async () => ((await holdOf(h, doomed.id)).status === 'released' ? true : undefined));
    } finally {
      await schedule.delete();
    }
    expect((await h.services.ledger.hold(overdue.value.id)).status).toBe('expired');
    expect((await holdOf(h, alive.id)).status).toBe('pending');
    expect(await (await h.call('GET', `/v1/videos/${doomed.id}`, { key })).json()).toMatchObject({ status: 'failed', error: { code: 'abandoned' } });
    expect(await capturesOf(h, doomed.id)).toHaveLength(0);

    // The provider accepted the other video, so a DELETE is refused (it is charged when delivered); ops stop it instead.
    expect((await h.call('DELETE', `/v1/videos/${alive.id}`, { key })).status).toBe(409);
    await client.workflow.getHandle(`generation-${alive.id}`).terminate('operator stopped it');
    await h.services.db('generations').where('id', alive.id).update({ created_at: h.services.db.raw(`now() - interval '5 minutes'`) });
    await h.services.db('holds').where('generation_id', alive.id).update({ created_at: h.services.db.raw(`now() - interval '5 minutes'`) });
    // A schedule of its own: a deleted schedule's id may still be taken while Temporal removes it, and
    // ensureSchedules leaves an existing schedule alone, so reusing the id could trigger nothing.
    const again = { ...spec, scheduleId: `${spec.scheduleId}-again` };
    await ensureSchedules(client, taskQueue, [again]);
    const second = client.schedule.getHandle(again.scheduleId);
    try {
      await second.trigger();
      await eventually(async () => ((await holdOf(h, alive.id)).status === 'released' ? true : undefined));
    } finally {
      await second.delete();
    }
    expect(await balanceOf(h, accountId)).toMatchObject({ balance: 1_000_000_000n, held: 0n });
  });
});

describe('generation deadlines', () => {
  let h: Harness;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ h, stop } = await harnessWithGemini({ env: { GENERATION_IMAGE_DEADLINE: '2', GENERATION_VIDEO_DEADLINE: '2' } }));
  });
  afterAll(async () => {
    await stop?.();
  });

  it('charges nothing when an image or a video misses its deadline', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    // The provider hangs (a [slow] prompt answers after 10 minutes): the picture, a local activity, aborts
    // its own call at the deadline, or the answer would take the adapter's 3-minute request timeout.
    const image = await h.call('POST', '/v1/images/generations', { key, body: { prompt: 'a very slow painting [slow]' } });
    expect(image.status).toBe(504);
    expect((await image.json()).error.code).toBe('timeout');
    const imageId = image.headers.get('x-generation-id')!;
    await expectNothingCharged(h, accountId, imageId, 1_000_000_000n);
    const history = await h.services.temporal.client.workflow.getHandle(`generation-${imageId}`).fetchHistory();
    const types = (history.events ?? []).map((e) => temporal.api.enums.v1.EventType[e.eventType!]);
    expect(types).not.toContain('EVENT_TYPE_ACTIVITY_TASK_SCHEDULED');
    expect(types.filter((t) => t === 'EVENT_TYPE_MARKER_RECORDED').length).toBeGreaterThanOrEqual(3);

    const video = await (await h.call('POST', '/v1/videos', { key, body: { prompt: 'a very slow film [slow]' } })).json();
    expect((await settled(h, video.id)).error?.code).toBe('timeout');
    await expectNothingCharged(h, accountId, video.id, 1_000_000_000n);
  });
});

describe('images on a task queue of their own', () => {
  let gemini: ListeningGeminiSandbox;
  let h: Harness;
  let stop: (() => Promise<void>) | undefined;

  // Two workflow task slots on the shared queue, fewer than the pictures drawn below. Pictures shorter than a
  // workflow task's heartbeat (8 s), so that on a shared queue they would keep the video waiting to the end.
  beforeAll(async () => {
    ({ h, gemini, stop } = await harnessWithGemini({ env: { TEMPORAL_WORKER_WORKFLOW_TASK_SLOTS: '2' } }));
  });
  afterAll(async () => {
    await stop?.();
  });

  it("answers a video's hold while images are being drawn (their open workflow tasks hold no slot of the shared queue)", async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const before = gemini.simulator.counters.generateContent;
    let imagesAnswered = 0;
    const images = [1, 2, 3].map((i) =>
      h.call('POST', '/v1/images/generations', { key, body: { prompt: `a slow painting ${i} [delay:6000]` } }).then((r) => {
        imagesAnswered++;
        return r;
      }),
    );
    await eventually(async () => (gemini.simulator.counters.generateContent - before >= 3 ? true : undefined));
    const video = await h.call('POST', '/v1/videos', { key, body: { prompt: 'a calm lake' } });
    expect(video.status).toBe(200);
    expect(imagesAnswered).toBe(0);
    expect((await Promise.all(images)).map((r) => r.status)).toEqual([200, 200, 200]);
    expect((await settled(h, (await video.json()).id)).status).toBe('completed');
    expect(await balanceOf(h, accountId)).toMatchObject({ balance: 1_000_000_000n - 4n * PRICE, held: 0n });
    await h.expectBooksBalanced();
  });
});

describe('a worker killed mid-generation', () => {
  let gemini: ListeningGeminiSandbox;
  let h: Harness;
  let stop: (() => Promise<void>) | undefined;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    ({ h, gemini, stop } = await harnessWithGemini({ worker: false }));
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await stop?.();
  });

  it('is finished by a new worker and charged once', async () => {
    const c = h.services.config;
    child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./worker-process.ts', import.meta.url))], {
      env: {
        ...process.env,
        DATABASE_URL: h.databaseUrl,
        TEMPORAL_ADDRESS: h.services.temporal.address,
        TEMPORAL_NAMESPACE: h.services.temporal.namespace,
        TEMPORAL_TASK_QUEUE: h.services.temporal.taskQueue,
        ADMIN_TOKEN: h.adminToken,
        DATA_DIR: c.dataDir,
        GEMINI_API_KEY: GEMINI_KEY,
        GEMINI_BASE_URL: gemini.baseUrl,
        GENERATION_POLL_INTERVAL: '1',
        LOG_LEVEL: 'error',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child!.stdout!.on('data', (d: Buffer) => d.toString().includes('worker ready') && resolve());
      child!.once('exit', (code) => reject(new Error(`worker process exited with ${code}`)));
    });

    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const video = await (await h.call('POST', '/v1/videos', { key, body: { prompt: 'a long take [delay:4000]' } })).json();
    await eventually(async () => ((await videoStatus(h, key, video.id)) === 'in_progress' ? true : undefined));
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    child = undefined;

    await h.startWorker();
    const row = await settled(h, video.id);
    expect(row.status).toBe('completed');
    const content = await h.call('GET', `/v1/videos/${video.id}/content`, { key });
    expect(content.headers.get('content-type')).toBe('video/mp4');
    expect((await capturesOf(h, video.id)).map((e) => e.amount)).toEqual([-PRICE]);
    expect(await balanceOf(h, accountId)).toMatchObject({ balance: 1_000_000_000n - PRICE, held: 0n });
    await h.expectBooksBalanced();
  }, 150_000);
});

describe('no worker to place the hold', () => {
  let h: Harness;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ h, stop } = await harnessWithGemini({ worker: false, env: { GENERATION_HOLD_WAIT: '2' } }));
  });
  afterAll(async () => {
    await stop?.();
  });

  it('answers an image 503 at once (its answer needs a worker) but queues a video with its price held; each settles once a worker returns', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const image = await h.call('POST', '/v1/images/generations', { key, body: { prompt: 'nobody home' } });
    expect(image.status).toBe(503);
    expect((await image.json()).error.code).toBe('service_unavailable');
    const [imageRow] = await h.services.db('generations').where({ account_id: accountId, kind: 'image' });
    expect(await balanceOf(h, accountId)).toMatchObject({ balance: 1_000_000_000n, held: 0n });

    // A video is a job: accepted with its hold placed, it waits durably in its task queue.
    const video = await h.call('POST', '/v1/videos', { key, body: { prompt: 'a queue, waiting' } });
    expect(video.status).toBe(200);
    const { id: videoId, status } = await video.json();
    expect(status).toBe('queued');
    expect(await balanceOf(h, accountId)).toMatchObject({ balance: 1_000_000_000n, held: PRICE });

    await h.startWorker();
    expect(await settled(h, imageRow.id)).toMatchObject({ status: 'failed', error: { code: 'cancelled' } });
    expect((await settled(h, videoId)).status).toBe('completed');
    expect((await capturesOf(h, videoId)).map((e) => e.amount)).toEqual([-PRICE]);
    expect(await capturesOf(h, imageRow.id)).toHaveLength(0);
    expect(await balanceOf(h, accountId)).toMatchObject({ balance: 1_000_000_000n - PRICE, held: 0n });
    await h.expectBooksBalanced();
  }, 60_000);
});
