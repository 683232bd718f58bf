import { awaitGenerationResult, GenerationStillRunning } from '../../generations/generation-client.js';
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { imageParamsFor } from '../../generations/generation-params.js';
import type { StartedGeneration } from '../../generations/generation-starter.js';
import { MAX_EDIT_IMAGES, MAX_INPUT_IMAGE_BYTES, MAX_INPUT_TOTAL_BYTES, type InputImage } from '../../generations/input-images.js';
import { GenerationRepository, type GenerationRecord } from '../../generations/generation-repository.js';
import type { GenerationResult, StoredAssetRef } from '../../generations/generation-types.js';
import { usdNumber } from '../../ledger/money.js';
import type { Services } from '../../services.js';
import { assertModelAllowed } from '../../keys/key-settings.js';
import { accountOf, authOf } from '../auth.js';
import { ApiError, invalidRequest, notFound } from '../errors.js';
import { unix } from '../present.js';
import { defineRoute } from '../route.js';
import { assertHoldPlaced, callerOf, generationModel, startOrUnavailable, generationFailed, sendAsset } from './generation-responses.js';
import { multipartWithImages, uploadedImages } from './generation-uploads.js';

/** What both image endpoints accept; each adds the fields OpenAI's API has for it alone. */
const imageRequest = {
  model: z.string().min(1).max(100).default('nano-banana-2'),
  prompt: z.string().trim().min(1).max(32_000),
  size: z.string().max(20).nullish().describe("'auto' or WIDTHxHEIGHT; mapped to the nearest supported aspect ratio"),
  response_format: z.enum(['b64_json', 'url']).nullish(),
  // Accepted for compatibility with OpenAI clients; the Gemini image models have no equivalent.
  quality: z.string().max(20).nullish(),
  background: z.string().max(20).nullish(),
  output_format: z.string().max(10).nullish(),
  user: z.string().max(256).nullish(),
};
const IMAGE_COUNT = '1–4; each delivered image is charged $0.21';

const ImageGeneration = z.strictObject({
  ...imageRequest,
  n: z.number().int().min(1).max(4).nullish().describe(IMAGE_COUNT),
  style: z.string().max(20).nullish(),
  moderation: z.string().max(10).nullish(),
  stream: z.literal(false).nullish().describe('Streaming is not supported'),
});

// Multipart sends every field as text: numbers and booleans arrive as strings.
const ImageEdit = z.strictObject({
  ...imageRequest,
  n: z.coerce.number().int().min(1).max(4).nullish().describe(IMAGE_COUNT),
  input_fidelity: z.string().max(10).nullish(),
  output_compression: z.string().max(4).nullish(),
  stream: z.enum(['false']).nullish().describe('Streaming is not supported'),
});

const EDIT_FILES = { image: MAX_EDIT_IMAGES, 'image[]': MAX_EDIT_IMAGES, mask: 1 };
const MB = 1024 * 1024;

const imageResponse = z.object({
  created: z.number().int(),
  data: z.array(z.object({ b64_json: z.string().optional(), url: z.string().optional() })),
  id: z.string(),
  cost: z.number().describe('USD charged: $0.21 per delivered image'),
});

const ImageList = z.object({
  after: z.string().min(1).max(100).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  order: z.enum(['asc', 'desc']).default('desc'),
});

const imageGenerationObject = z.object({
  id: z.string(),
  object: z.literal('image.generation'),
  model: z.string(),
  status: z.enum(['queued', 'in_progress', 'completed', 'failed']),
  n: z.number().int(),
  prompt: z.string(),
  size: z.string().nullable(),
  created_at: z.number().int(),
  completed_at: z.number().int().nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  cost: z.number().describe('USD charged: $0.21 per delivered image'),
  data: z.array(z.object({ url: z.string() })).describe('Signed, expiring links to the delivered images (empty until completed)'),
});

/** The longest an image request waits beyond its deadline for the workflow to report. */
const RESULT_SLACK_MS = 60_000;

export function imageRoutes(services: Services): Router {
  const router = Router();
  const generations = new GenerationRepository(services.db);

  defineRoute(
    router,
    {
      method: 'post',
      path: '/v1/images/generations',
      summary: 'Generate images (nano-banana-2, nano-banana-pro); answers when they are ready',
      tag: 'images',
      auth: 'api_key',
      body: ImageGeneration,
      responses: { 200: { description: 'OpenAI images response', schema: imageResponse } },
    },
    async ({ body }, req, res) => {
      const checked = checkedImageRequest(body, res);
      await generateImages(req, res, body, checked);
    },
  );

  router.post('/v1/images/edits', multipartWithImages(EDIT_FILES));
  defineRoute(
    router,
    {
      method: 'post',
      path: '/v1/images/edits',
      summary: `Edit images (nano-banana-2, nano-banana-pro): up to ${MAX_EDIT_IMAGES} PNG, JPEG or WebP files (each ≤ ${MAX_INPUT_IMAGE_BYTES / MB} MB, ≤ ${MAX_INPUT_TOTAL_BYTES / MB} MB together) and a prompt; answers when they are ready`,
      tag: 'images',
      auth: 'api_key',
      body: ImageEdit,
      multipartOnly: true,
      files: [
        { name: 'image', description: 'The image(s) to edit; `image[]` is accepted too', multiple: true, required: true },
        { name: 'mask', description: 'A PNG whose transparent pixels mark what to change in the first image' },
      ],
      responses: { 200: { description: 'OpenAI images response', schema: imageResponse } },
    },
    async ({ body }, req, res) => {
      const checked = checkedImageRequest(body, res);
      const inputs = uploadedImages(req, (field) => (field === 'mask' ? 'mask' : 'image'));
      const images = inputs.filter((i) => i.role === 'image').length;
      if (!images) throw invalidRequest("At least one image to edit is required (multipart field 'image' or 'image[]').", 'image', 'missing_required_parameter');
      if (images > MAX_EDIT_IMAGES) throw invalidRequest(`At most ${MAX_EDIT_IMAGES} images can be edited together.`, 'image', 'invalid_value');
      await generateImages(req, res, body, checked, { inputs, images });
    },
  );

  defineRoute(
    router,
    {
      method: 'get',
      path: '/v1/images/generations/:id/:index',
      summary: 'The bytes of a generated image (the `url` of response_format=url); owner only',
      tag: 'images',
      auth: 'api_key',
      responses: { 200: { description: 'The image', contentType: 'image/png' } },
    },
    async ({ params }, _req, res) => {
      const { accountId } = authOf(res);
      const record = await generations.findVisible(accountId, params.id!, 'image');
      const asset = record?.status === 'completed' ? record.assets.find((a) => String(a.index) === params.index) : undefined;
      if (!asset) throw notFound(`No image '${params.index}' of generation '${params.id}'.`, 'id');
      await sendAsset(services, res, asset);
    },
  );

  defineRoute(
    router,
    {
      method: 'get',
      path: '/v1/images',
      summary: "The account's image generations (and edits), newest first, with signed links to the delivered images",
      tag: 'images',
      auth: 'api_key',
      query: ImageList,
      responses: { 200: { description: 'A page of image generations', schema: z.object({ object: z.literal('list'), data: z.array(imageGenerationObject), first_id: z.string().nullable(), last_id: z.string().nullable(), has_more: z.boolean() }) } },
    },
    async ({ query }, _req, res) => {
      // accountOf, not authOf: the console's session reads this list too (no key behind it).
      const accountId = accountOf(res);
      const rows = await generations.list(accountId, 'image', { after: query.after, limit: query.limit + 1, order: query.order });
      const data = await Promise.all(rows.slice(0, query.limit).map(presentGeneration));
      res.json({ object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: rows.length > query.limit });
    },
  );

  async function presentGeneration(g: GenerationRecord): Promise<z.infer<typeof imageGenerationObject>> {
    return {
      id: g.id,
      object: 'image.generation',
      model: g.model,
      status: g.status === 'rejected' ? 'failed' : g.status,
      n: g.n,
      prompt: g.prompt,
      size: typeof g.params.size === 'string' ? g.params.size : null,
      created_at: unix(g.createdAt)!,
      completed_at: unix(g.completedAt),
      error: g.error,
      cost: usdNumber(g.cost),
      data: g.status === 'completed' ? await Promise.all(g.assets.map(async (a) => ({ url: await services.assetLinks.urlFor(a.key) }))) : [],
    };
  }

  /** The checks both endpoints start with: the model is an image model this key may use, the size maps to one it supports. */
  function checkedImageRequest(body: { model: string; size?: string | null }, res: Response) {
    const model = generationModel(services, body.model, 'image');
    assertModelAllowed(authOf(res).key, model.id);
    const params = imageParamsFor(body.size ?? undefined);
    if (!params.ok) throw invalidRequest(params.message, 'size', 'invalid_value');
    return { model, image: params.value };
  }

  /** Starts the generation (an edit: with its uploads) and answers with the images once they are ready. */
  async function generateImages(
    req: Request,
    res: Response,
    body: { prompt: string; n?: number | null; size?: string | null; response_format?: 'b64_json' | 'url' | null },
    { model, image }: ReturnType<typeof checkedImageRequest>,
    edit?: { inputs: InputImage[]; images: number },
  ) {
    const responseFormat = body.response_format ?? 'b64_json';
    const started = await startOrUnavailable(services, {
      ...callerOf(req, res),
      model,
      prompt: body.prompt,
      count: body.n ?? 1,
      requested: { size: body.size ?? 'auto', response_format: responseFormat, ...(edit && { edit: { images: edit.images, mask: edit.inputs.length > edit.images } }) },
      image,
      ...(edit && { inputs: edit.inputs }),
    });
    await answerImages(started, responseFormat, res);
  }

  /** Waits for the images (unless a replayed request found them delivered) and answers in OpenAI's shape. */
  async function answerImages(started: StartedGeneration, responseFormat: 'b64_json' | 'url', res: Response) {
    assertHoldPlaced(started.hold);
    res.setHeader('x-generation-id', started.record.id);
    const result = started.hold === null ? resultOf(started.record) : await awaitResult(services, started.record.id);
    if (result.status !== 'completed') throw generationFailed(result.error);
    res.json({
      created: unix(started.record.createdAt),
      data: await Promise.all(result.assets.map((a) => presentImage(services, started.record.id, a, responseFormat))),
      id: started.record.id,
      cost: usdNumber(BigInt(result.chargedNanos)),
    });
  }

  async function presentImage(s: Services, id: string, asset: StoredAssetRef, format: 'b64_json' | 'url') {
    // A link a browser can open without the key: signed and expiring (or the bucket's own pre-signed GET).
    if (format === 'url') return { url: await s.assetLinks.urlFor(asset.key) };
    const content = await s.assets.get(asset.key);
    if (!content) throw new ApiError(500, 'server_error', 'asset_missing', 'A generated image could not be read back; nothing more was charged.');
    const chunks: Buffer[] = [];
    for await (const chunk of content.body) chunks.push(chunk as Buffer);
    return { b64_json: Buffer.concat(chunks).toString('base64') };
  }

  return router;
}

async function awaitResult(services: Services, generationId: string): Promise<GenerationResult> {
  const waitMs = services.config.generations.imageDeadlineSeconds * 1000 + RESULT_SLACK_MS;
  let result: GenerationResult | null;
  try {
    result = await awaitGenerationResult(services.temporal, generationId, waitMs);
  } catch (err) {
    if (err instanceof GenerationStillRunning) {
      throw new ApiError(504, 'server_error', 'timeout', 'The images were not ready in time; the generation goes on and is charged only if delivered.');
    }
    throw err;
  }
  if (result) return result;
  // Terminated by an operator or otherwise ended abnormally: the row says what is known; the
  // hold sweep releases a hold left behind.
  const record = await new GenerationRepository(services.db).get(generationId);
  if (record?.status === 'completed') return resultOf(record);
  return { status: 'failed', assets: [], chargedNanos: '0', error: record?.error ?? { code: 'generation_failed', message: 'The generation stopped before finishing; nothing was charged.' } };
}

/** A replayed request whose generation had already finished answers from the row. */
function resultOf(record: GenerationRecord): GenerationResult {
  return {
    status: record.status === 'completed' ? 'completed' : 'failed',
    assets: record.assets,
    chargedNanos: record.cost.toString(),
    error: record.error ?? undefined,
  };
}
