import { describe, expect, it } from 'vitest';
import { cancelGenerationWorkflow } from '../../src/generations/generation-client.js';
import type { Harness } from '../support/harness.js';
import { useHarness } from '../support/suite-harness.js';
import { PRICE, balanceOf, capturesOf, eventually, expectNothingCharged, harnessWithGemini, holdOf, settled, startDirect } from '../workflows/generation-fixtures.js';

// Issue 10 §3: a video job the provider accepted is billed to us upstream, so cancelling it must not
// make it free. Each case replays one way of asking for a free video.
describe('cancelling a generation never gives away a job the provider accepted', () => {
  let h: Harness;
  useHarness(harnessWithGemini, (started) => (h = started));

  const statusOf = async (key: string, id: string) => (await (await h.call('GET', `/v1/videos/${id}`, { key })).json()).status as string;

  it('answers 409 video_in_progress to DELETE of a video the provider is rendering, and charges $0.21 once when it is delivered', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const video = await (await h.call('POST', '/v1/videos', { key, body: { prompt: 'a harbour at night [delay:3000]' } })).json();
    await eventually(async () => ((await statusOf(key, video.id)) === 'in_progress' ? true : undefined));

    const deleted = await h.call('DELETE', `/v1/videos/${video.id}`, { key });
    expect(deleted.status).toBe(409);
    expect((await deleted.json()).error).toMatchObject({ type: 'invalid_request_error', code: 'video_in_progress' });
    expect((await holdOf(h, video.id)).status).toBe('pending');

    expect((await settled(h, video.id)).status).toBe('completed');
    expect((await capturesOf(h, video.id)).map((c) => c.amount)).toEqual([-PRICE]);
    expect(await balanceOf(h, accountId)).toMatchObject({ balance: 1_000_000_000n - PRICE, held: 0n });
    // Once delivered it can be deleted; the charge stays.
    expect((await h.call('DELETE', `/v1/videos/${video.id}`, { key })).status).toBe(200);
    expect(await balanceOf(h, accountId)).toMatchObject({ balance: 1_000_000_000n - PRICE, held: 0n });
  });

  it('charges an accepted video once even when a cancel reaches its workflow (a DELETE racing the submission, an operator)', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const video = await (await h.call('POST', '/v1/videos', { key, body: { prompt: 'a lighthouse [delay:3000]' } })).json();
    await eventually(async () => ((await statusOf(key, video.id)) === 'in_progress' ? true : undefined));

    await cancelGenerationWorkflow(h.services.temporal, video.id);
    const row = await settled(h, video.id);
    expect(row.status).toBe('completed');
    expect((await capturesOf(h, video.id)).map((c) => c.amount)).toEqual([-PRICE]);
    expect(await balanceOf(h, accountId)).toMatchObject({ balance: 1_000_000_000n - PRICE, held: 0n });
  });

  it('keeps a cancel free while the provider has not accepted the job', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    // The provider keeps refusing the submission (503), so the video stays queued: never accepted.
    const { generationId, hold } = await startDirect(h, {
      accountId,
      kind: 'video',
      prompt: 'a storm [fail:http503]',
      timing: { providerRetry: { initialIntervalMs: 200, maximumAttempts: 3 } },
    });
    expect(hold.ok).toBe(true);
    expect(await statusOf(key, generationId)).toBe('queued');

    const deleted = await h.call('DELETE', `/v1/videos/${generationId}`, { key });
    expect(deleted.status).toBe(200);
    expect((await settled(h, generationId)).status).toBe('failed');
    await expectNothingCharged(h, accountId, generationId, 1_000_000_000n);
  });
});
