import { toFile } from 'openai';
import { describe, expect, it } from 'vitest';
import { SANDBOX_VIDEO } from '../../src/sandboxes/gemini/gemini-sandbox.js';
import type { Harness } from '../support/harness.js';
import { useHarness } from '../support/suite-harness.js';
import { eventually, harnessWithGemini, settled } from '../workflows/generation-fixtures.js';

let h: Harness;
useHarness(harnessWithGemini, (started) => (h = started));

describe('/v1/videos with the official SDK', () => {
  it('creates a video (multipart), follows it to completed and downloads the MP4', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const client = h.openai(key);
    const created = await client.videos.create({ model: 'veo-3.1' as never, prompt: 'a calm lake at dawn', seconds: '8', size: '1280x720' });
    expect(created).toMatchObject({ object: 'video', model: 'veo-3.1', status: 'queued', progress: 0, seconds: '8', size: '1280x720', error: null });
    expect(created.id).toMatch(/^video_/);

    const done = await eventually(async () => {
      const v = await client.videos.retrieve(created.id);
      return v.status === 'completed' ? v : undefined;
    });
    expect(done).toMatchObject({ progress: 100, prompt: 'a calm lake at dawn' });
    expect(done.completed_at).toBeTypeOf('number');
    const content = await client.videos.downloadContent(created.id);
    expect(content.headers.get('content-type')).toBe('video/mp4');
    expect(Buffer.from(await content.arrayBuffer()).equals(SANDBOX_VIDEO)).toBe(true);
    expect((await h.services.ledger.balance(accountId)).balance).toBe(790_000_000n);
  });

  it("lists the account's videos, newest first, page by page", async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const client = h.openai(key);
    const ids: string[] = [];
    for (const prompt of ['one', 'two', 'three']) ids.push((await client.videos.create({ prompt })).id);
    const firstPage = await client.videos.list({ limit: 2 });
    expect(firstPage.data.map((v) => v.id)).toEqual([ids[2], ids[1]]);
    expect(firstPage.has_more).toBe(true);
    const all: string[] = [];
    for await (const v of client.videos.list({ limit: 2 })) all.push(v.id);
    expect(all).toEqual([...ids].reverse());
    const oldestFirst = await (await h.call('GET', '/v1/videos?order=asc', { key })).json();
    expect(oldestFirst.data.map((v: { id: string }) => v.id)).toEqual(ids);
    for (const id of ids) await settled(h, id);
  });

  it("treats another account's video as not found, for every route", async () => {
    const owner = await h.createAccount({ balanceUsd: '1.00' });
    const stranger = await h.createAccount({ balanceUsd: '1.00' });
    const video = await h.openai(owner.key).videos.create({ prompt: 'private footage' });
    await settled(h, video.id);
    for (const [method, path] of [['GET', `/v1/videos/${video.id}`], ['GET', `/v1/videos/${video.id}/content`], ['DELETE', `/v1/videos/${video.id}`]] as const) {
      const res = await h.call(method, path, { key: stranger.key });
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    expect((await h.openai(stranger.key).videos.list()).data).toEqual([]);
    expect((await h.call('GET', `/v1/videos/${video.id}`, { key: owner.key })).status).toBe(200);
  });

  it('deletes a completed video and its file', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const client = h.openai(key);
    const video = await client.videos.create({ prompt: 'to be deleted' });
    await settled(h, video.id);
    expect(await client.videos.delete(video.id)).toEqual({ id: video.id, object: 'video.deleted', deleted: true });
    expect((await h.call('GET', `/v1/videos/${video.id}/content`, { key })).status).toBe(404);
    const [row] = await h.services.db('generations').where({ id: video.id });
    expect(await h.services.assets.get(row.assets[0].key)).toBeNull();
    expect(row.cost).toBe(210_000_000n);
  });
});

describe('POST /v1/videos input', () => {
  it('accepts JSON with numeric seconds', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const res = await h.call('POST', '/v1/videos', { key, body: { prompt: 'json body', seconds: 4, size: '720x1280' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('openai-poll-after-ms')).toBe('5000');
    const video = await res.json();
    expect(video).toMatchObject({ seconds: '4', size: '720x1280', status: 'queued' });
    await settled(h, video.id);
  });

  it('refuses sizes and durations Veo cannot make, a reference file that is not an image, and an image model, charging nothing', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const cases = [
      { prompt: 'x', size: '640x480' },
      { prompt: 'x', seconds: '12' },
      { prompt: 'x', size: '1920x1080', seconds: '4' },
      { prompt: 'x', model: 'nano-banana-2' },
      { prompt: '' },
    ];
    for (const body of cases) {
      const res = await h.call('POST', '/v1/videos', { key, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await res.json()).error.type).toBe('invalid_request_error');
    }
    await expect(
      h.openai(key).videos.create({ prompt: 'x', input_reference: await toFile(Buffer.from('fake'), 'ref.png', { type: 'image/png' }) }),
    ).rejects.toMatchObject({ status: 400 });
    expect((await h.services.ledger.balance(accountId)).balance).toBe(1_000_000_000n);
    expect(await h.services.db('generations').where({ account_id: accountId })).toHaveLength(0);
  });

  it('answers 402 at once when the balance cannot cover the hold, and shows no video for it', async () => {
    const { key } = await h.createAccount({ balanceUsd: '0.10' });
    const res = await h.call('POST', '/v1/videos', { key, body: { prompt: 'too expensive' } });
    expect(res.status).toBe(402);
    expect((await res.json()).error.code).toBe('insufficient_funds');
    expect((await (await h.call('GET', '/v1/videos', { key })).json()).data).toEqual([]);
  });

  it('reports a job that failed at the provider as a failed video with an error', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const video = await (await h.call('POST', '/v1/videos', { key, body: { prompt: 'a storm [fail:error]' } })).json();
    await settled(h, video.id);
    const failed = await (await h.call('GET', `/v1/videos/${video.id}`, { key })).json();
    expect(failed).toMatchObject({ status: 'failed', cost: 0, error: { code: 'provider_error' } });
    const content = await h.call('GET', `/v1/videos/${video.id}/content`, { key });
    expect(content.status).toBe(400);
    expect((await content.json()).error.code).toBe('video_not_ready');
  });
});
