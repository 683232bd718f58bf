import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerationRefused, MediaProviderError } from '../../../src/providers/media/failures.js';
import { createGeminiMediaProvider } from '../../../src/providers/media/gemini.js';
import type { MediaProvider } from '../../../src/providers/media/media-provider.js';
import { promptPicture } from '../../../src/sandboxes/gemini/png.js';
import {
  SANDBOX_VIDEO,
  listenGeminiSandbox,
  type ListeningGeminiSandbox,
} from '../../../src/sandboxes/gemini/gemini-sandbox.js';

const KEY = 'test-gemini-key';
const IMAGE_MODEL = 'gemini-3.1-flash-image-preview';
const VIDEO_MODEL = 'veo-3.1-generate-preview';
const video = { model: VIDEO_MODEL, aspectRatio: '16:9', durationSeconds: 8, resolution: '720p' } as const;

let clock = 1_000_000;
let gemini: ListeningGeminiSandbox;
let provider: MediaProvider;

beforeAll(async () => {
  gemini = await listenGeminiSandbox({ apiKey: KEY, imageDelayMs: 0, videoDelayMs: 60_000, now: () => clock });
  provider = createGeminiMediaProvider({ apiKey: KEY, baseUrl: gemini.baseUrl });
});
afterAll(() => gemini.close());

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

function pngSize(bytes: Buffer) {
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

describe('Gemini image generation', () => {
  it('returns a real PNG shaped by the aspect ratio, the same for the same prompt', async () => {
    const first = await provider.generateImage({ model: IMAGE_MODEL, prompt: 'a red bicycle', aspectRatio: '16:9' });
    const again = await provider.generateImage({ model: IMAGE_MODEL, prompt: 'a red bicycle', aspectRatio: '16:9' });
    expect(first.mimeType).toBe('image/png');
    expect(first.bytes.subarray(1, 4).toString('ascii')).toBe('PNG');
    expect(pngSize(first.bytes)).toEqual({ width: 114, height: 64 });
    expect(again.bytes.equals(first.bytes)).toBe(true);
  });

  it('takes the final image of a thinking model, not its thought images', async () => {
    const image = await provider.generateImage({ model: 'gemini-3-pro-image-preview', prompt: 'a lighthouse' });
    expect(image.bytes.equals(promptPicture('a lighthouse'))).toBe(true);
  });

  it.each([
    ['[fail:safety]', 'SAFETY'],
    ['[fail:image-safety]', 'IMAGE_SAFETY'],
    ['[fail:refusal]', 'TEXT_ONLY'],
    ['[fail:error]', 'OTHER'],
  ])('answers %s with a non-retryable refusal (%s)', async (marker, reason) => {
    const err = await failureOf(provider.generateImage({ model: IMAGE_MODEL, prompt: `a cat ${marker}` }));
    expect(err).toBeInstanceOf(GenerationRefused);
    expect(err).toMatchObject({ reason, retryable: false });
  });

  it.each([
    [500, 'INTERNAL', 'unavailable', true],
    [503, 'UNAVAILABLE', 'unavailable', true],
    [504, 'DEADLINE_EXCEEDED', 'timeout', true],
    [429, 'RESOURCE_EXHAUSTED', 'rate_limited', true],
    [400, 'INVALID_ARGUMENT', 'invalid_request', false],
    [403, 'PERMISSION_DENIED', 'auth', false],
    [404, 'NOT_FOUND', 'not_found', false],
  ])('maps HTTP %i %s to %s (retryable: %s)', async (status, word, kind, retryable) => {
    const err = await failureOf(provider.generateImage({ model: IMAGE_MODEL, prompt: `x [fail:http${status}]` }));
    expect(err).toBeInstanceOf(MediaProviderError);
    expect(err).toMatchObject({ httpStatus: status, providerStatus: word, kind, retryable });
  });

  it('passes on the wait a rate limit asks for', async () => {
    const err = await failureOf(provider.generateImage({ model: IMAGE_MODEL, prompt: 'x [fail:http429]' }));
    expect(err).toMatchObject({ retryAfterMs: 1000 });
  });

  it('succeeds once a flaky prompt has failed its allotted times', async () => {
    const prompt = `a boat ${Math.random()} [flaky:2]`;
    for (let i = 0; i < 2; i++) {
      expect(await failureOf(provider.generateImage({ model: IMAGE_MODEL, prompt }))).toMatchObject({ httpStatus: 503, retryable: true });
    }
    expect((await provider.generateImage({ model: IMAGE_MODEL, prompt })).mimeType).toBe('image/png');
  });

  it('refuses an unknown model without retry', async () => {
    const err = await failureOf(provider.generateImage({ model: 'gemini-2.5-flash', prompt: 'a dog' }));
    expect(err).toMatchObject({ kind: 'not_found', retryable: false });
  });

  it('rejects a model id that is not a plain identifier before calling out', async () => {
    const before = gemini.simulator.counters.generateContent;
    const err = await failureOf(provider.generateImage({ model: '../files/x', prompt: 'a dog' }));
    expect(err).toMatchObject({ kind: 'invalid_request', retryable: false });
    expect(gemini.simulator.counters.generateContent).toBe(before);
  });

  it('reports a wrong key as a non-retryable auth failure without echoing the key', async () => {
    const wrong = createGeminiMediaProvider({ apiKey: 'wrong-secret-key', baseUrl: gemini.baseUrl });
    const err = (await failureOf(wrong.generateImage({ model: IMAGE_MODEL, prompt: 'a dog' }))) as MediaProviderError;
    expect(err).toMatchObject({ kind: 'auth', httpStatus: 400, retryable: false });
    expect(err.message).not.toContain('wrong-secret-key');
  });

  it('reports a missing key as 403 PERMISSION_DENIED', async () => {
    const none = createGeminiMediaProvider({ apiKey: '', baseUrl: gemini.baseUrl });
    const err = await failureOf(none.generateImage({ model: IMAGE_MODEL, prompt: 'a dog' }));
    expect(err).toMatchObject({ kind: 'auth', httpStatus: 403, providerStatus: 'PERMISSION_DENIED', retryable: false });
  });

  it('treats an unreachable provider as retryable', async () => {
    const closed = await listenGeminiSandbox({ apiKey: KEY });
    await closed.close();
    const down = createGeminiMediaProvider({ apiKey: KEY, baseUrl: closed.baseUrl });
    const err = await failureOf(down.generateImage({ model: IMAGE_MODEL, prompt: 'a dog' }));
    expect(err).toMatchObject({ kind: 'network', retryable: true });
  });

  it('gives up on a provider that does not answer in time, as a retryable timeout', async () => {
    const impatient = createGeminiMediaProvider({ apiKey: KEY, baseUrl: gemini.baseUrl, requestTimeoutMs: 100 });
    const err = await failureOf(impatient.generateImage({ model: IMAGE_MODEL, prompt: 'a dog [slow]' }));
    expect(err).toMatchObject({ kind: 'timeout', retryable: true });
  });
});

describe('Veo video generation', () => {
  it('runs an operation to completion and downloads a real MP4 through the redirect', async () => {
    const name = await provider.startVideo({ ...video, prompt: 'a calm lake at dawn' });
    expect(name).toMatch(/^models\/veo-3\.1-generate-preview\/operations\/[a-z0-9]+$/);
    expect(await provider.getVideoOperation(name)).toEqual({ state: 'running' });
    clock += 60_000;
    const done = await provider.getVideoOperation(name);
    if (done.state !== 'done' || !('uri' in done.video)) throw new Error(`unexpected ${JSON.stringify(done)}`);
    const downloads = gemini.simulator.counters.downloads;
    const file = await provider.downloadVideo(done.video.uri);
    expect(file.mimeType).toBe('video/mp4');
    expect(file.bytes.subarray(4, 8).toString('ascii')).toBe('ftyp');
    expect(file.bytes.equals(SANDBOX_VIDEO)).toBe(true);
    expect(gemini.simulator.counters.downloads).toBe(downloads + 1);
  });

  it('reports a safety-filtered video as refused', async () => {
    const name = await provider.startVideo({ ...video, prompt: 'something bad [fail:safety]' });
    clock += 60_000;
    expect(await provider.getVideoOperation(name)).toMatchObject({ state: 'refused', reason: 'RAI_FILTERED' });
  });

  it('reports an operation that ended in an internal error as a retryable failure', async () => {
    const name = await provider.startVideo({ ...video, prompt: 'a storm [fail:error]' });
    clock += 60_000;
    expect(await provider.getVideoOperation(name)).toMatchObject({ state: 'failed', code: 'INTERNAL', retryable: true });
  });

  it('keeps a slow operation running past the normal delay', async () => {
    const name = await provider.startVideo({ ...video, prompt: 'a glacier [slow]' });
    clock += 60_000;
    expect(await provider.getVideoOperation(name)).toEqual({ state: 'running' });
  });

  it('maps a refused submission to a retryable or final error by status', async () => {
    expect(await failureOf(provider.startVideo({ ...video, prompt: 'x [fail:http503]' }))).toMatchObject({ httpStatus: 503, retryable: true });
    expect(await failureOf(provider.startVideo({ ...video, prompt: 'x', resolution: '1080p', durationSeconds: 4 })))
      .toMatchObject({ httpStatus: 400, kind: 'invalid_request', retryable: false });
  });

  it('says not found for an unknown operation and refuses names that are not operations', async () => {
    expect(await failureOf(provider.getVideoOperation(`models/${VIDEO_MODEL}/operations/nosuchop`))).toMatchObject({ kind: 'not_found', retryable: false });
    expect(await failureOf(provider.getVideoOperation('../../v1beta/files/x'))).toMatchObject({ kind: 'invalid_request', retryable: false });
  });
});

describe('Gemini protocol corners (a hand-written local server)', () => {
  let server: http.Server;
  let base: string;
  const seen: { path: string; key: string | undefined }[] = [];
  const other = http.createServer((req, res) => {
    seen.push({ path: req.url!, key: req.headers['x-goog-api-key'] as string | undefined });
    res.writeHead(200, { 'content-type': 'video/mp4' }).end(SANDBOX_VIDEO);
  });
  let otherBase: string;

  beforeAll(async () => {
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    otherBase = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    server = http.createServer((req, res) => {
      seen.push({ path: req.url!, key: req.headers['x-goog-api-key'] as string | undefined });
      if (req.url === '/v1beta/models/veo-3.1-generate-preview/operations/inline') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
          name: 'models/veo-3.1-generate-preview/operations/inline',
          done: true,
          response: { generateVideoResponse: { generatedSamples: [{ video: { encodedVideo: SANDBOX_VIDEO.toString('base64'), encoding: 'video/mp4' } }] } },
        }));
      } else if (req.url?.startsWith('/v1beta/files/elsewhere')) {
        res.writeHead(302, { location: `${otherBase}/signed/blob?sig=abc` }).end();
      } else if (req.url?.startsWith('/v1beta/models/gemini-3.1-flash-image-preview:generateContent')) {
        res.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>');
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    other.closeAllConnections();
    await new Promise((r) => server.close(r));
    await new Promise((r) => other.close(r));
  });

  it('accepts a video delivered inline instead of by uri', async () => {
    const p = createGeminiMediaProvider({ apiKey: KEY, baseUrl: base });
    const state = await p.getVideoOperation('models/veo-3.1-generate-preview/operations/inline');
    expect(state.state === 'done' && 'bytes' in state.video && state.video.bytes.equals(SANDBOX_VIDEO)).toBe(true);
  });

  it('follows a download redirect to another origin without sending it the key', async () => {
    const p = createGeminiMediaProvider({ apiKey: KEY, baseUrl: base });
    const file = await p.downloadVideo(`${base}/v1beta/files/elsewhere:download?alt=media`);
    expect(file.bytes.equals(SANDBOX_VIDEO)).toBe(true);
    expect(seen.find((s) => s.path.startsWith('/v1beta/files/elsewhere'))?.key).toBe(KEY);
    expect(seen.find((s) => s.path.startsWith('/signed/blob'))).toEqual({ path: '/signed/blob?sig=abc', key: undefined });
  });

  it('treats a proxy error page as a retryable outage', async () => {
    const p = createGeminiMediaProvider({ apiKey: KEY, baseUrl: `${base}/v1beta/` });
    const err = await failureOf(p.generateImage({ model: IMAGE_MODEL, prompt: 'a dog' }));
    expect(err).toMatchObject({ kind: 'unavailable', httpStatus: 502, retryable: true });
  });
});
