import { createHash } from 'node:crypto';
import { toFile } from 'openai';
import { describe, expect, it } from 'vitest';
import type { ListeningGeminiSandbox } from '../../src/sandboxes/gemini/gemini-sandbox.js';
import { promptPicture } from '../../src/sandboxes/gemini/png.js';
import type { Harness } from '../support/harness.js';
import { settled, useGeminiHarness } from '../workflows/generation-fixtures.js';

let h: Harness;
let gemini: ListeningGeminiSandbox;
useGeminiHarness((suite) => ({ h, gemini } = suite));

const FRAME = promptPicture('the first frame', '16:9');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const balance = async (accountId: string) => (await h.services.ledger.balance(accountId)).balance;

describe('POST /v1/videos with input_reference (image-to-video)', () => {
  it('passes the uploaded image to Veo as the first frame, charges $0.21 on delivery and discards the upload', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const created = await h.openai(key).videos.create({
      model: 'veo-3.1' as never,
      prompt: 'the scene comes alive',
      size: '1280x720',
      input_reference: await toFile(FRAME, 'frame.png', { type: 'image/png' }),
    });
    expect(created).toMatchObject({ object: 'video', status: 'queued' });
    const row = await settled(h, created.id);
    expect(row.status).toBe('completed');
    expect(gemini.simulator.firstFrames).toContain(sha256(FRAME));
    expect(await balance(accountId)).toBe(790_000_000n);
    expect(await h.services.assets.get(`generations/${created.id}/inputs/0.png`)).toBeNull();
  });

  it('refuses a reference that is not an uploaded PNG, JPEG or WebP (400) or too large (413), holding nothing', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const post = (file: Buffer | undefined, fields: Record<string, string> = {}) => {
      const form = new FormData();
      form.append('prompt', 'x');
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      if (file) form.append('input_reference', new Blob([new Uint8Array(file)]), 'ref.png');
      return fetch(`${h.baseUrl}/v1/videos`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
    };
    const notImage = await post(Buffer.from('GIF89a not accepted here'));
    expect(notImage.status).toBe(400);
    expect((await notImage.json()).error.param).toBe('input_reference');
    const big = await post(Buffer.concat([FRAME.subarray(0, 8), Buffer.alloc(10 * 1024 * 1024)]));
    expect(big.status).toBe(413);
    const urlField = await post(undefined, { input_reference: 'https://example.com/frame.png' });
    expect(urlField.status).toBe(400);
    const json = await h.call('POST', '/v1/videos', { key, body: { prompt: 'x', input_reference: { image_url: 'https://example.com/frame.png' } } });
    expect(json.status).toBe(400);
    expect((await json.json()).error.param).toBe('input_reference');
    expect(await balance(accountId)).toBe(1_000_000_000n);
    expect(await h.services.db('generations').where({ account_id: accountId })).toHaveLength(0);
  });
});
