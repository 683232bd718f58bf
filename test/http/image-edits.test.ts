import { toFile } from 'openai';
import { describe, expect, it } from 'vitest';
import { editedPicture, promptPicture } from '../../src/sandboxes/gemini/png.js';
import type { ListeningGeminiSandbox } from '../../src/sandboxes/gemini/gemini-sandbox.js';
import type { Harness } from '../support/harness.js';
import { useGeminiHarness } from '../workflows/generation-fixtures.js';

let h: Harness;
let gemini: ListeningGeminiSandbox;
useGeminiHarness((suite) => ({ h, gemini } = suite));

const MB = 1024 * 1024;
const balance = async (accountId: string) => (await h.services.ledger.balance(accountId)).balance;
const PNG = promptPicture('the photo to edit');
// The sandbox checks signatures, as Gemini decodes what it is sent: a JPEG starts with FF D8 FF.
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(60, 7)]);
const pngOf = (bytes: number) => Buffer.concat([PNG.subarray(0, 8), Buffer.alloc(bytes - 8)]);

async function postEdit(key: string, files: [field: string, bytes: Buffer, name: string][], fields: Record<string, string> = { prompt: 'make it blue' }) {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  for (const [field, bytes, name] of files) form.append(field, new Blob([new Uint8Array(bytes)]), name);
  return fetch(`${h.baseUrl}/v1/images/edits`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
}

describe('POST /v1/images/edits', () => {
  it('edits the uploaded images with the official SDK: sent to Gemini as inline parts, $0.21 charged, uploads discarded', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const before = gemini.simulator.counters.inlineImages;
    const result = await h.openai(key).images.edit({
      model: 'nano-banana-2',
      prompt: 'put both in one frame',
      image: [await toFile(PNG, 'a.png', { type: 'image/png' }), await toFile(JPEG, 'b.jpg', { type: 'image/jpeg' })],
    });
    expect(result.data).toHaveLength(1);
    // The simulated edit is derived from the exact bytes of every input, in order: both arrived intact.
    expect(Buffer.from(result.data![0].b64_json!, 'base64').equals(editedPicture('put both in one frame', [PNG, JPEG]))).toBe(true);
    expect(gemini.simulator.counters.inlineImages - before).toBe(2);
    expect(await balance(accountId)).toBe(790_000_000n);
    const id = (result as unknown as { id: string }).id;
    expect(await h.services.assets.get(`generations/${id}/inputs/0.png`)).toBeNull();
    expect(await h.services.assets.get(`generations/${id}/inputs/1.jpg`)).toBeNull();
  });

  it('takes one image and a PNG mask, n=2 with a size, charging $0.21 per image', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const before = gemini.simulator.counters.inlineImages;
    const result = await h.openai(key).images.edit({
      model: 'nano-banana-pro',
      prompt: 'replace the sky',
      image: await toFile(PNG, 'photo.png', { type: 'image/png' }),
      mask: await toFile(promptPicture('mask'), 'mask.png', { type: 'image/png' }),
      n: 2,
      size: '1536x1024',
    });
    expect(result.data).toHaveLength(2);
    // Each of the two provider calls carried the image and the mask.
    expect(gemini.simulator.counters.inlineImages - before).toBe(4);
    expect(await balance(accountId)).toBe(1_000_000_000n - 420_000_000n);
  });

  it('refuses bad uploads with 400 or 413 before anything is stored or held', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const cases: { files: [string, Buffer, string][]; fields?: Record<string, string>; status: number; param: string | null }[] = [
      { files: [], status: 400, param: 'image' },
      { files: [['image', Buffer.from('not an image at all'), 'a.png']], status: 400, param: 'image' },
      { files: [['image', Buffer.alloc(0), 'empty.png']], status: 400, param: 'image' },
      { files: [['image', PNG, 'a.png'], ['mask', JPEG, 'm.jpg']], status: 400, param: 'mask' },
      { files: [['image', PNG, 'a.png'], ['reference', PNG, 'r.png']], status: 400, param: 'reference' },
      { files: [['image', pngOf(10 * MB + 1), 'big.png']], status: 413, param: 'image' },
      { files: [['image[]', pngOf(7.5 * MB), 'a.png'], ['image[]', pngOf(7.5 * MB), 'b.png']], status: 413, param: 'image' },
      { files: [['image', PNG, 'a.png']], fields: { prompt: 'x', model: 'veo-3.1' }, status: 400, param: 'model' },
      { files: [['image', PNG, 'a.png']], fields: { prompt: 'x', n: '5' }, status: 400, param: 'n' },
      { files: [['image', PNG, 'a.png']], fields: { prompt: '' }, status: 400, param: 'prompt' },
    ];
    for (const c of cases) {
      const res = await postEdit(key, c.files, c.fields);
      const body = await res.json();
      expect(res.status, JSON.stringify(c.fields ?? c.files.map((f) => f[0]))).toBe(c.status);
      expect(body.error.param).toBe(c.param);
    }
    const json = await h.call('POST', '/v1/images/edits', { key, body: { prompt: 'x', image: 'https://example.com/a.png' } });
    expect(json.status).toBe(400);
    expect(await balance(accountId)).toBe(1_000_000_000n);
    expect(await h.services.db('generations').where({ account_id: accountId })).toHaveLength(0);
  });

  it('answers 402 when the balance cannot cover the hold, and keeps none of the uploads', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '0.20' });
    const res = await postEdit(key, [['image', PNG, 'a.png']]);
    expect(res.status).toBe(402);
    expect((await res.json()).error.code).toBe('insufficient_funds');
    const [row] = await h.services.db('generations').where({ account_id: accountId });
    expect(row.status).toBe('rejected');
    expect(await h.services.assets.get(`generations/${row.id}/inputs/0.png`)).toBeNull();
    expect(await balance(accountId)).toBe(200_000_000n);
  });

  it('is described in the OpenAPI document as a multipart upload', async () => {
    const doc = await (await h.call('GET', '/openapi.json')).json();
    const body = doc.paths['/v1/images/edits'].post.requestBody.content;
    expect(Object.keys(body)).toEqual(['multipart/form-data']);
    expect(body['multipart/form-data'].schema.required).toEqual(expect.arrayContaining(['prompt', 'image']));
  });
});
