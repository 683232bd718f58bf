import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGeminiSandbox, listenGeminiSandbox, type ListeningGeminiSandbox } from '../../../src/sandboxes/gemini/gemini-sandbox.js';

const KEY = 'sim-key';
let gemini: ListeningGeminiSandbox;

beforeAll(async () => {
  gemini = await listenGeminiSandbox({ apiKey: KEY, imageDelayMs: 0, videoDelayMs: 0 });
});
afterAll(() => gemini.close());

const post = (path: string, body: unknown, headers: Record<string, string> = { 'x-goog-api-key': KEY }) =>
  fetch(`${gemini.baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const imageBody = { contents: [{ role: 'user', parts: [{ text: 'a red bicycle' }] }] };

describe('simulated Gemini, on the wire', () => {
  it('answers generateContent with text and an inline PNG, like the real model with both modalities', async () => {
    const res = await post('/v1beta/models/gemini-2.5-flash-image:generateContent', imageBody);
    expect(res.status).toBe(200);
    const body = await res.json();
    const parts = body.candidates[0].content.parts;
    expect(body.candidates[0].finishReason).toBe('STOP');
    expect(parts[0].text).toBeTypeOf('string');
    expect(parts[1].inlineData.mimeType).toBe('image/png');
    expect(body.usageMetadata.candidatesTokenCount).toBe(1120);
  });

  it('refuses a missing key with 403 PERMISSION_DENIED and a wrong one with API_KEY_INVALID', async () => {
    const missing = await post('/v1beta/models/gemini-2.5-flash-image:generateContent', imageBody, {});
    expect(missing.status).toBe(403);
    expect((await missing.json()).error).toMatchObject({ code: 403, status: 'PERMISSION_DENIED' });
    const wrong = await post('/v1beta/models/gemini-2.5-flash-image:generateContent', imageBody, { 'x-goog-api-key': 'nope' });
    expect(wrong.status).toBe(400);
    expect((await wrong.json()).error).toMatchObject({ status: 'INVALID_ARGUMENT', details: [{ reason: 'API_KEY_INVALID' }] });
  });

  it('also takes the key as ?key=', async () => {
    const res = await post(`/v1beta/models/gemini-2.5-flash-image:generateContent?key=${KEY}`, imageBody, {});
    expect(res.status).toBe(200);
  });

  it('answers malformed JSON and an empty prompt with 400 INVALID_ARGUMENT', async () => {
    const bad = await post('/v1beta/models/gemini-2.5-flash-image:generateContent', '{"contents": [');
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.status).toBe('INVALID_ARGUMENT');
    const empty = await post('/v1beta/models/gemini-2.5-flash-image:generateContent', { contents: [] });
    expect(empty.status).toBe(400);
  });

  it('answers unknown routes and methods with a Google-shaped 404', async () => {
    const res = await post('/v1beta/models/gemini-2.5-flash-image:countTokens', imageBody);
    expect(res.status).toBe(404);
    expect((await res.json()).error.status).toBe('NOT_FOUND');
  });

  it('keeps the file download behind the key and alt=media, and the blob behind an unguessable token', async () => {
    const start = await post('/v1beta/models/veo-3.1-fast-generate-preview:predictLongRunning', { instances: [{ prompt: 'waves' }], parameters: {} });
    const { name } = await start.json();
    const op = await (await fetch(`${gemini.baseUrl}/v1beta/${name}`, { headers: { 'x-goog-api-key': KEY } })).json();
    expect(op.done).toBe(true);
    const uri: string = op.response.generateVideoResponse.generatedSamples[0].video.uri;
    expect((await fetch(uri, { redirect: 'manual' })).status).toBe(403);
    expect((await fetch(uri.replace('?alt=media', ''), { headers: { 'x-goog-api-key': KEY }, redirect: 'manual' })).status).toBe(400);
    const redirect = await fetch(uri, { headers: { 'x-goog-api-key': KEY }, redirect: 'manual' });
    expect(redirect.status).toBe(302);
    const blob = await fetch(new URL(redirect.headers.get('location')!, uri));
    expect(blob.headers.get('content-type')).toBe('video/mp4');
    expect((await fetch(`${gemini.baseUrl}/blobs/${'0'.repeat(48)}`)).status).toBe(404);
  });

  it('reports the operation as running without a done field until its delay has passed', async () => {
    const slow = await listenGeminiSandbox({ apiKey: KEY, videoDelayMs: 60_000 });
    try {
      const { name } = await (await fetch(`${slow.baseUrl}/v1beta/models/veo-3.1-generate-preview:predictLongRunning`, {
        method: 'POST', headers: { 'x-goog-api-key': KEY, 'content-type': 'application/json' },
        body: JSON.stringify({ instances: [{ prompt: 'waves' }] }),
      })).json();
      const op = await (await fetch(`${slow.baseUrl}/v1beta/${name}`, { headers: { 'x-goog-api-key': KEY } })).json();
      expect(op).toEqual({ name });
    } finally {
      await slow.close();
    }
  });

  it('builds file URIs that include the mount path when mounted under /sandbox/gemini', async () => {
    const sim = createGeminiSandbox({ apiKey: KEY, videoDelayMs: 0 });
    const app = express().use('/sandbox/gemini', sim.router);
    const server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sandbox/gemini`;
    try {
      const { name } = await (await fetch(`${base}/v1beta/models/veo-3.1-generate-preview:predictLongRunning`, {
        method: 'POST', headers: { 'x-goog-api-key': KEY, 'content-type': 'application/json' },
        body: JSON.stringify({ instances: [{ prompt: 'waves' }] }),
      })).json();
      const op = await (await fetch(`${base}/v1beta/${name}`, { headers: { 'x-goog-api-key': KEY } })).json();
      const uri: string = op.response.generateVideoResponse.generatedSamples[0].video.uri;
      expect(uri.startsWith(`${base}/v1beta/files/`)).toBe(true);
      const video = await fetch(uri, { headers: { 'x-goog-api-key': KEY } });
      expect(video.status).toBe(200);
    } finally {
      sim.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('forgets the oldest operations beyond its bound', async () => {
    const small = await listenGeminiSandbox({ apiKey: KEY, videoDelayMs: 0, maxOperations: 2 });
    try {
      const names: string[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${small.baseUrl}/v1beta/models/veo-3.1-generate-preview:predictLongRunning`, {
          method: 'POST', headers: { 'x-goog-api-key': KEY, 'content-type': 'application/json' },
          body: JSON.stringify({ instances: [{ prompt: `clip ${i}` }] }),
        });
        names.push((await res.json()).name);
      }
      const statuses = await Promise.all(names.map(async (n) => (await fetch(`${small.baseUrl}/v1beta/${n}`, { headers: { 'x-goog-api-key': KEY } })).status));
      expect(statuses).toEqual([404, 200, 200]);
    } finally {
      await small.close();
    }
  });
});
