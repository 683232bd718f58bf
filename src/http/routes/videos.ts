import { Router } from 'express';
import { z } from 'zod';
import { VIDEO_SIZE_NAMES, videoParamsFor } from '../../generations/generation-params.js';
import { GenerationRepository, type GenerationRecord } from '../../generations/generation-repository.js';
import { usdNumber } from '../../ledger/money.js';
import type { Services } from '../../services.js';
import { assertModelAllowed } from '../../keys/key-settings.js';
import { accountOf, authOf } from '../auth.js';
import { conflict, invalidRequest, notFound } from '../errors.js';
import { unix } from '../present.js';
import { defineRoute } from '../route.js';
import { cancelVideo, VideoAlreadyAccepted } from '../../generations/video-cancellation.js';
import { assertHoldPlaced, callerOf, generationModel, startOrUnavailable, sendAsset } from './generation-responses.js';
import { multipartWithImages, uploadedImages } from './generation-uploads.js';
import { MAX_INPUT_IMAGE_BYTES } from '../../generations/input-images.js';

const VideoCreate = z.strictObject({
  model: z.string().min(1).max(100).default('veo-3.1'),
  prompt: z.string().trim().min(1).max(32_000),
  // Multipart sends every field as text; JSON clients may send a number.
  seconds: z.union([z.string(), z.number()]).transform(String).default('8').describe("'4', '6' or '8' (1080p and larger need '8')"),
  size: z.string().max(20).default('720x1280').describe(`One of ${VIDEO_SIZE_NAMES.join(', ')}`),
  // OpenAI also takes a JSON reference ({image_url} / {file_id}); only an uploaded file is served here.
  input_reference: z.unknown().optional().describe('The first frame, as an uploaded file (multipart); a URL or file id is refused'),
});

const VideoList = z.object({
  after: z.string().min(1).max(100).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  order: z.enum(['asc', 'desc']).default('desc'),
});

const ContentQuery = z.object({ variant: z.enum(['video', 'thumbnail', 'spritesheet']).default('video') });

const videoObject = z.object({
  id: z.string(),
  object: z.literal('video'),
  model: z.string(),
  status: z.enum(['queued', 'in_progress', 'completed', 'failed']),
  progress: z.number().int(),
  created_at: z.number().int(),
  completed_at: z.number().int().nullable(),
  expires_at: z.number().int().nullable(),
  seconds: z.string(),
  size: z.string(),
  prompt: z.string(),
  remixed_from_video_id: z.string().nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  cost: z.number().describe('USD charged: $0.21 once the video is delivered, otherwise 0'),
});

/** What the official SDKs' pollers wait between polls when the server suggests it. */
const POLL_AFTER_MS = '5000';

const MB = 1024 * 1024;

export function videoRoutes(services: Services): Router {
  const router = Router();
  const generations = new GenerationRepository(services.db);
  const mine = async (accountId: string, id: string) => {
    const record = await generations.findVisible(accountId, id, 'video');
    if (!record) throw notFound(`No video with id '${id}'.`, 'id');
    return record;
  };

  // Image-to-video: one file in input_reference, the video's first frame.
  router.post('/v1/videos', multipartWithImages({ input_reference: 1 }));
  defineRoute(
    router,
    {
      method: 'post',
      path: '/v1/videos',
      summary: `Start a video (veo-3.1), from a prompt or from a first frame (input_reference: PNG, JPEG or WebP, ≤ ${MAX_INPUT_IMAGE_BYTES / MB} MB); answers at once with a queued video object`,
      tag: 'videos',
      auth: 'api_key',
      body: VideoCreate,
      alsoAccepts: ['multipart/form-data'],
      files: [{ name: 'input_reference', description: 'The image the video starts from (its first frame)' }],
      responses: { 200: { description: 'The video, queued', schema: videoObject } },
    },
    async ({ body }, req, res) => {
      const model = generationModel(services, body.model, 'video');
      assertModelAllowed(authOf(res).key, model.id);
      const params = videoParamsFor(body.size, body.seconds);
      if (!params.ok) throw invalidRequest(params.message, params.message.startsWith('seconds') ? 'seconds' : 'size', 'invalid_value');
      if (body.input_reference !== undefined) {
        throw invalidRequest('input_reference must be an uploaded image file (multipart/form-data); image URLs and file ids are not supported.', 'input_reference', 'invalid_value');
      }
      const inputs = uploadedImages(req, (field) => (field === 'input_reference' ? 'first_frame' : undefined));

      const started = await startOrUnavailable(services, {
        ...callerOf(req, res),
        model,
        prompt: body.prompt,
        count: 1,
        requested: { seconds: body.seconds, size: body.size, ...(inputs.length ? { input_reference: true } : {}) },
        video: params.value,
        inputs,
      });
      assertHoldPlaced(started.hold);
      sendVideo(res, started.record);
    },
  );

  defineRoute(
    router,
    { method: 'get', path: '/v1/videos', summary: "The account's videos, newest first", tag: 'videos', auth: 'api_key', query: VideoList },
    async ({ query }, _req, res) => {
      const accountId = accountOf(res);
      const rows = await generations.list(accountId, 'video', { after: query.after, limit: query.limit + 1, order: query.order });
      const data = rows.slice(0, query.limit).map(presentVideo);
      res.json({ object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: rows.length > query.limit });
    },
  );

  defineRoute(
    router,
    { method: 'get', path: '/v1/videos/:id', summary: 'A video: status, progress, error', tag: 'videos', auth: 'api_key', responses: { 200: { description: 'The video', schema: videoObject } } },
    async ({ params }, _req, res) => {
      const accountId = accountOf(res);
      sendVideo(res, await mine(accountId, params.id!));
    },
  );

  defineRoute(
    router,
    {
      method: 'get',
      path: '/v1/videos/:id/content',
      summary: 'The MP4 of a completed video',
      tag: 'videos',
      auth: 'api_key',
      query: ContentQuery,
      responses: { 200: { description: 'The video file', contentType: 'video/mp4' } },
    },
    async ({ params, query }, _req, res) => {
      const accountId = accountOf(res);
      const record = await mine(accountId, params.id!);
      if (query.variant !== 'video') throw invalidRequest(`The ${query.variant} variant is not available for this model.`, 'variant', 'unsupported_variant');
      const asset = record.status === 'completed' ? record.assets[0] : undefined;
      if (!asset) throw invalidRequest(`Video '${record.id}' is ${record.status}; its content is available once it is completed.`, 'id', 'video_not_ready');
      await sendAsset(services, res, asset);
    },
  );

  defineRoute(
    router,
    {
      method: 'delete',
      path: '/v1/videos/:id',
      summary: 'Delete a video; a queued one is cancelled free of charge, one the provider is rendering answers 409 (it is charged when delivered)',
      tag: 'videos',
      auth: 'api_key',
    },
    async ({ params }, _req, res) => {
      const { accountId } = authOf(res);
      const record = await mine(accountId, params.id!);
      try {
        await cancelVideo(services, record);
      } catch (err) {
        if (err instanceof VideoAlreadyAccepted) throw conflict(err.message, 'video_in_progress');
        throw err;
      }
      await generations.markDeleted(record.id);
      await Promise.all(record.assets.map((a) => services.assets.delete(a.key)));
      res.json({ id: record.id, object: 'video.deleted', deleted: true });
    },
  );

  return router;
}

function sendVideo(res: import('express').Response, record: GenerationRecord) {
  if (record.status === 'queued' || record.status === 'in_progress') res.setHeader('openai-poll-after-ms', POLL_AFTER_MS);
  res.json(presentVideo(record));
}

export function presentVideo(r: GenerationRecord) {
  return {
    id: r.id,
    object: 'video' as const,
    model: r.model,
    status: r.status === 'rejected' ? ('failed' as const) : r.status,
    progress: r.status === 'completed' ? 100 : r.progress,
    created_at: unix(r.createdAt)!,
    completed_at: unix(r.completedAt),
    expires_at: null,
    seconds: String(r.params.seconds ?? '8'),
    size: String(r.params.size ?? '720x1280'),
    prompt: r.prompt,
    remixed_from_video_id: null,
    error: r.error ? { code: r.error.code, message: r.error.message } : null,
    cost: usdNumber(r.cost),
  };
}
