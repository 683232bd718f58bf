import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendAsset } from '../../src/http/routes/generation-responses.js';
import { createLocalAssetStore } from '../../src/storage/local-asset-store.js';

/**
 * Downloads cut off by the client, replayed from issue 10 §4: every aborted image or video
 * download used to keep its file open. The asset route's streaming (sendAsset, used by both the
 * image and the video content routes) over a real file store and a real HTTP server.
 */

const KEY = 'gen_abort/0.mp4';
let dir: string;
let server: http.Server;
let base: string;
let assetFile: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-abort-'));
  const assets = createLocalAssetStore(dir);
  const stored = await assets.put(KEY, Buffer.alloc(32 * 1024 * 1024, 7), 'video/mp4');
  assetFile = fs.realpathSync(path.join(dir, 'assets', 'gen_abort', '0.mp4'));
  const app = express();
  app.get('/content', async (_req, res) => {
    await sendAsset({ assets }, res, { index: 0, key: KEY, size: stored.size, sha256: stored.sha256, contentType: 'video/mp4' });
  });
  server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Descriptors of this process open on the asset file, read from /proc/self/fd. */
function openOnAsset(): number {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === assetFile) n++;
    } catch {
      // closed between the listing and the read
    }
  }
  return n;
}

async function eventually<T>(probe: () => T, done: (v: T) => boolean): Promise<T> {
  for (let i = 0; ; i++) {
    const v = probe();
    if (done(v) || i >= 200) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Starts a download and cuts it off after `afterBytes` bytes (0: as soon as the response starts). */
function abortedDownload(afterBytes: number): Promise<void> {
  return new Promise((resolve) => {
    const req = http.get(`${base}/content`, (res) => {
      let got = 0;
      res.on('data', (chunk: Buffer) => {
        got += chunk.length;
        if (got >= afterBytes) req.destroy();
      });
    });
    req.on('error', () => undefined);
    req.on('close', () => resolve());
  });
}

describe('attack 6: downloads aborted by the client', () => {
  it('a complete download closes the file', async () => {
    const res = await fetch(`${base}/content`);
    expect((await res.arrayBuffer()).byteLength).toBe(32 * 1024 * 1024);
    expect(await eventually(openOnAsset, (n) => n === 0)).toBe(0);
  });

  it('ten downloads cut off mid-stream leave no descriptor open on the file', async () => {
    expect(openOnAsset()).toBe(0);
    await Promise.all(Array.from({ length: 10 }, (_, i) => abortedDownload(64 * 1024 * (i + 1))));
    expect(await eventually(openOnAsset, (n) => n === 0)).toBe(0);
  });

  it('a download abandoned before the answer starts leaves no descriptor open either', async () => {
    await Promise.all(
      Array.from(
        { length: 5 },
        () =>
          new Promise<void>((resolve) => {
            const req = http.get(`${base}/content`);
            req.on('error', () => undefined);
            req.on('close', () => resolve());
            req.on('socket', (socket) => socket.on('connect', () => setImmediate(() => req.destroy())));
          }),
      ),
    );
    expect(await eventually(openOnAsset, (n) => n === 0)).toBe(0);
  });
});
