import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import pino from 'pino';
import { TOOLS_DIR } from '../../../src/launcher/stack.js';
import { resolveTemporalCli } from '../../../src/launcher/temporal-cli.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { generationWorkflow } from '../../../workflows/generation.js';
import type { Harness } from '../../support/harness.js';
import { eventually, harnessWithGemini, settled, startDirect } from '../generation-fixtures.js';

// Records one real history per branch of generationWorkflow, for generation-replay.test.ts. The
// histories are the workflow's contract with runs already in flight: a file that exists is never
// overwritten (it holds what earlier code did); delete one to re-record it on purpose.
const HERE = fileURLToPath(new URL('.', import.meta.url));

let h: Harness;
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ h, stop } = await harnessWithGemini({ env: { GENERATION_HOLD_WAIT: '8' } }));
});
afterAll(async () => {
  await stop?.();
});

async function record(name: string, generationId: string) {
  await settled(h, generationId);
  const file = `${HERE}generation-${name}.json`;
  if (fs.existsSync(file)) return;
  const { address, namespace } = h.services.temporal;
  // The CLI writes the proto JSON that replay reads (the same file `temporal workflow show -o json` gives an operator).
  const cli = resolveTemporalCli({ configured: process.env.TEMPORAL_CLI, toolsDir: TOOLS_DIR, logger: pino({ level: 'warn' }) });
  const json = execFileSync(cli, ['workflow', 'show', '--address', address, '--namespace', namespace, '--workflow-id', `generation-${generationId}`, '--output', 'json']);
  fs.writeFileSync(file, json);
}

const fast = { providerRetry: { initialIntervalMs: 50, maximumAttempts: 2 } };

it('records every branch of generationWorkflow', async () => {
  const { key, accountId } = await h.createAccount({ balanceUsd: '10.00' });

  // Images recorded before IMAGES_IN_ONE_TASK are image-delivered, -partial, -provider-error, -timeout;
  // the image-one-task-* files are the same branches run by that version (pictures as local activities).
  const image = await h.call('POST', '/v1/images/generations', { key, body: { prompt: 'a red kite' } });
  expect(image.status).toBe(200);
  await record('image-delivered', image.headers.get('x-generation-id')!);
  await record('image-one-task-delivered', image.headers.get('x-generation-id')!);

  const pair = await startDirect(h, { accountId, kind: 'image', count: 2, prompt: `two kites ${Date.now()} [flaky:1]`, timing: { providerRetry: { initialIntervalMs: 50, maximumAttempts: 1 } } });
  await record('image-partial', pair.generationId);
  await record('image-one-task-partial', pair.generationId);

  const refused = await h.call('POST', '/v1/images/generations', { key, body: { prompt: 'something awful [fail:safety]' } });
  expect(refused.status).toBe(400);
  await record('image-refused', refused.headers.get('x-generation-id')!);

  const outage = await startDirect(h, { accountId, kind: 'image', prompt: 'a boat [fail:http503]', timing: fast });
  await record('image-provider-error', outage.generationId);
  await record('image-one-task-provider-error', outage.generationId);

  const slowImage = await startDirect(h, { accountId, kind: 'image', prompt: 'a slow painting [slow]', timing: { ...fast, deadlineMs: 1500 } });
  await record('image-timeout', slowImage.generationId);
  await record('image-one-task-timeout', slowImage.generationId);

  const video = await (await h.call('POST', '/v1/videos', { key, body: { prompt: 'a calm lake [delay:1500]' } })).json();
  await record('video-delivered', video.id);

  const badVideo = await (await h.call('POST', '/v1/videos', { key, body: { prompt: 'something awful [fail:safety]' } })).json();
  await record('video-refused', badVideo.id);

  const slowVideo = await startDirect(h, { accountId, kind: 'video', prompt: 'a slow film [slow]', timing: { ...fast, deadlineMs: 2500 } });
  await record('video-timeout', slowVideo.generationId);

  const cancelled = await (await h.call('POST', '/v1/videos', { key, body: { prompt: 'a slow sunset [slow]' } })).json();
  await eventually(async () => ((await (await h.call('GET', `/v1/videos/${cancelled.id}`, { key })).json()).status === 'in_progress' ? true : undefined));
  expect((await h.call('DELETE', `/v1/videos/${cancelled.id}`, { key })).status).toBe(200);
  await record('video-cancelled', cancelled.id);

  const poor = await h.createAccount({ balanceUsd: '0.10' });
  const broke = await h.call('POST', '/v1/videos', { key: poor.key, body: { prompt: 'no money' } });
  expect(broke.status).toBe(402);
  const [rejected] = await h.services.db('generations').where({ account_id: poor.accountId });
  await record('insufficient-funds', rejected.id);

  // Cancelled before any worker placed the hold: the API gave up waiting (GENERATION_HOLD_WAIT=8) and cancelled it.
  await h.stopWorker();
  const nobody = await h.call('POST', '/v1/videos', { key: poor.key, body: { prompt: 'nobody home' } });
  expect(nobody.status).toBe(503);
  await h.startWorker();
  const [orphan] = await h.services.db('generations').where({ account_id: poor.accountId }).whereNot({ id: rejected.id });
  const orphanId = orphan.id;
  await record('cancelled-before-hold', orphanId);
});
