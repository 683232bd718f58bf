// A local stand-in for the Gemini API's image and Veo endpoints. It is both the embedded default (mounted by the
// app at /sandbox/gemini when GEMINI_API_KEY is unset) and the server the adapter's tests talk to, so it speaks
// the real protocol: same paths, x-goog-api-key auth, the same success and failure shapes. It hands out a real
// PNG derived from the prompt and a real MP4 (./assets/sandbox-video.mp4). Prompt markers that make it fail
// on purpose are listed in ./README.md.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import express, { type NextFunction, type Request, type Response } from 'express';
import { editedPicture, promptPicture } from './png.js';
import { parseTriggers, type PromptTriggers, type SandboxFailure } from './prompt-triggers.js';

export interface GeminiSandboxOptions {
  /** The key callers must present in `x-goog-api-key` (or `?key=`). */
  apiKey: string;
  /** How long generateContent takes to answer. */
  imageDelayMs?: number;
  /** How long a Veo operation stays running. */
  videoDelayMs?: number;
  /** The delay a `[slow]` prompt gets. */
  slowDelayMs?: number;
  /** Operations kept in memory; the oldest are forgotten first. */
  maxOperations?: number;
  now?: () => number;
}

export interface GeminiSandboxCounters {
  generateContent: number;
  predictLongRunning: number;
  operationPolls: number;
  downloads: number;
  /** Inline input images accepted (image edits). */
  inlineImages: number;
}

export interface GeminiSandbox {
  router: express.Router;
  counters: GeminiSandboxCounters;
  /** SHA-256 (hex) of the first frames of the latest image-to-video jobs, oldest first. */
  firstFrames: string[];
  /** Ends pending delayed answers (used at shutdown). */
  close(): void;
}

export const SANDBOX_VIDEO: Buffer = readFileSync(new URL('./assets/sandbox-video.mp4', import.meta.url));

interface Operation {
  id: string;
  model: string;
  readyAt: number;
  failure?: SandboxFailure;
  blobToken: string;
}

const KEY_INVALID_DETAILS = [
  {
    '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
    reason: 'API_KEY_INVALID',
    domain: 'googleapis.com',
    metadata: { service: 'generativelanguage.googleapis.com' },
  },
];

const HTTP_ERRORS: Record<number, [string, string]> = {
  400: ['INVALID_ARGUMENT', 'Request contains an invalid argument.'],
  403: ['PERMISSION_DENIED', 'The caller does not have permission'],
  404: ['NOT_FOUND', 'Requested entity was not found.'],
  429: ['RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).'],
  500: ['INTERNAL', 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting'],
  503: ['UNAVAILABLE', 'The model is overloaded. Please try again later.'],
  504: ['DEADLINE_EXCEEDED', 'The request timed out. Please try again.'],
};

const RETRY_INFO = [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '1s' }];
const VIDEO_RESPONSE_TYPE = 'type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse';
const MAX_FLAKY_PROMPTS = 10_000;

export function createGeminiSandbox(options: GeminiSandboxOptions): GeminiSandbox {
  const imageDelayMs = options.imageDelayMs ?? 1_000;
  const videoDelayMs = options.videoDelayMs ?? 3_000;
  const slowDelayMs = options.slowDelayMs ?? 600_000;
  const maxOperations = options.maxOperations ?? 10_000;
  const now = options.now ?? Date.now;
  const keyDigest = digest(options.apiKey);
  const operations = new Map<string, Operation>();
  const blobs = new Map<string, string>();
  const flakyCalls = new Map<string, number>();
  const shutdown = new AbortController();
  const counters: GeminiSandboxCounters = { generateContent: 0, predictLongRunning: 0, operationPolls: 0, downloads: 0, inlineImages: 0 };
  const firstFrames: string[] = [];

  const delayFor = (t: PromptTriggers, fallback: number) =>
    t.delay === 'default' ? fallback : t.delay === 'slow' ? slowDelayMs : t.delay;

  // True when this call should fail as one of the first N attempts of a `[flaky:N]` prompt.
  function flakes(scope: string, prompt: string, t: PromptTriggers): boolean {
    if (t.flaky === 0) return false;
    const key = `${scope}\u0000${prompt}`;
    const seen = flakyCalls.get(key) ?? 0;
    if (seen >= t.flaky) return false;
    if (!flakyCalls.has(key) && flakyCalls.size >= MAX_FLAKY_PROMPTS) flakyCalls.delete(flakyCalls.keys().next().value!);
    flakyCalls.set(key, seen + 1);
    return true;
  }

  // False when the caller hung up or the simulator shut down while waiting: there is no one left to answer.
  async function wait(ms: number, res: Response): Promise<boolean> {
    if (ms <= 0) return true;
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    try {
      await sleep(ms, undefined, { signal: AbortSignal.any([shutdown.signal, gone.signal]) });
      return true;
    } catch {
      return false;
    }
  }

  function remember(op: Operation): void {
    while (operations.size >= maxOperations) {
      const oldest = operations.values().next().value!;
      operations.delete(oldest.id);
      blobs.delete(oldest.blobToken);
    }
    operations.set(op.id, op);
    blobs.set(op.blobToken, op.id);
  }

  const router = express.Router();
  router.use(express.json({ limit: '20mb' }));

  const requireKey = (req: Request, res: Response, next: NextFunction) => {
    const presented = req.get('x-goog-api-key') ?? (typeof req.query.key === 'string' ? req.query.key : undefined);
    if (!presented) {
      return googleError(res, 403, 'PERMISSION_DENIED',
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.");
    }
    if (!timingSafeEqual(digest(presented), keyDigest)) {
      return googleError(res, 400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', KEY_INVALID_DETAILS);
    }
    next();
  };

  router.post('/v1beta/models/:call', requireKey, async (req, res) => {
    const [model, method] = splitCall(req.params.call);
    if (method === 'generateContent') return generateContent(model, req, res);
    if (method === 'predictLongRunning') return predictLongRunning(model, req, res);
    return googleError(res, 404, 'NOT_FOUND', `Method ${method || '(none)'} is not found.`);
  });

  async function generateContent(model: string, req: Request, res: Response) {
    counters.generateContent++;
    if (!/image/.test(model)) {
      return googleError(res, 404, 'NOT_FOUND', `models/${model} is not found for API version v1beta, or is not supported for generateContent.`);
    }
    const body = req.body ?? {};
    const contents: any[] = Array.isArray(body.contents) ? body.contents : [];
    const parts: any[] = contents.flatMap((c) => (Array.isArray(c?.parts) ? c.parts : []));
    const prompt = parts.map((p) => (typeof p?.text === 'string' ? p.text : '')).join(' ').trim();
    if (!prompt) return googleError(res, 400, 'INVALID_ARGUMENT', '* GenerateContentRequest.contents: contents is not specified');
    const inputs: Buffer[] = [];
    for (const part of parts.filter((p) => p?.inlineData !== undefined)) {
      const bytes = decodedImage(part.inlineData?.data, part.inlineData?.mimeType);
      if (!bytes) return googleError(res, 400, 'INVALID_ARGUMENT', UNPROCESSABLE_IMAGE);
      inputs.push(bytes);
    }
    counters.inlineImages += inputs.length;
    const t = parseTriggers(prompt);
    if (flakes(`image:${model}`, prompt, t)) return googleError(res, 503, ...HTTP_ERRORS[503]);
    if (!(await wait(delayFor(t, imageDelayMs), res))) return;
    if (t.failure?.kind === 'http') return httpFailure(res, t.failure.status);

    const modalities: string[] = body.generationConfig?.responseModalities ?? ['TEXT', 'IMAGE'];
    const aspectRatio = body.generationConfig?.imageConfig?.aspectRatio;
    const envelope = {
      usageMetadata: { promptTokenCount: Math.max(1, Math.ceil(prompt.length / 4)), candidatesTokenCount: 1120, totalTokenCount: Math.ceil(prompt.length / 4) + 1120 },
      modelVersion: model,
      responseId: randomBytes(12).toString('base64url'),
    };
    switch (t.failure?.kind) {
      case 'safety':
        return res.json({ promptFeedback: { blockReason: 'SAFETY' }, ...envelope });
      case 'image-safety':
        return res.json({ candidates: [{ finishReason: 'IMAGE_SAFETY', index: 0 }], ...envelope });
      case 'error':
        return res.json({ candidates: [{ finishReason: 'OTHER', index: 0 }], ...envelope });
      case 'refusal':
        return res.json({
          candidates: [{ content: { role: 'model', parts: [{ text: "I can't help with creating that image." }] }, finishReason: 'STOP', index: 0 }],
          ...envelope,
        });
    }
    const out: any[] = [];
    // Gemini 3 Pro Image thinks first and may emit interim "thought" images; the real one comes last.
    if (/pro/.test(model)) {
      out.push({ text: 'Composing the scene.', thought: true });
      out.push({ inlineData: { mimeType: 'image/png', data: promptPicture(`draft:${prompt}`, aspectRatio).toString('base64') }, thought: true });
    }
    if (modalities.includes('TEXT')) out.push({ text: 'Here is your image.' });
    const picture = inputs.length ? editedPicture(prompt, inputs, aspectRatio) : promptPicture(prompt, aspectRatio);
    out.push({ inlineData: { mimeType: 'image/png', data: picture.toString('base64') } });
    res.json({ candidates: [{ content: { role: 'model', parts: out }, finishReason: 'STOP', index: 0 }], ...envelope });
  }

  async function predictLongRunning(model: string, req: Request, res: Response) {
    counters.predictLongRunning++;
    if (!/^veo-/.test(model)) {
      return googleError(res, 404, 'NOT_FOUND', `models/${model} is not found for API version v1beta, or is not supported for predictLongRunning.`);
    }
    const instance = Array.isArray(req.body?.instances) ? req.body.instances[0] : undefined;
    const prompt = typeof instance?.prompt === 'string' ? instance.prompt.trim() : '';
    if (!prompt) return googleError(res, 400, 'INVALID_ARGUMENT', 'A prompt is required.');
    const invalid = invalidVideoParameters(req.body?.parameters ?? {});
    if (invalid) return googleError(res, 400, 'INVALID_ARGUMENT', invalid);
    // Image-to-video: the first frame as Veo's REST API takes it (protocols.md), checked like an inline image.
    let firstFrame: Buffer | undefined;
    if (instance.image !== undefined) {
      firstFrame = decodedImage(instance.image?.bytesBase64Encoded, instance.image?.mimeType);
      if (!firstFrame) return googleError(res, 400, 'INVALID_ARGUMENT', UNPROCESSABLE_IMAGE);
    }
    const t = parseTriggers(prompt);
    if (flakes(`video:${model}`, prompt, t)) return googleError(res, 503, ...HTTP_ERRORS[503]);
    if (t.failure?.kind === 'http') return httpFailure(res, t.failure.status);
    const op: Operation = {
      id: randomBytes(9).toString('base64url').replace(/[-_]/g, 'x').toLowerCase(),
      model,
      readyAt: now() + delayFor(t, videoDelayMs),
      failure: t.failure,
      blobToken: randomBytes(24).toString('hex'),
    };
    remember(op);
    if (firstFrame) {
      firstFrames.push(createHash('sha256').update(firstFrame).digest('hex'));
      if (firstFrames.length > 100) firstFrames.shift();
    }
    res.json({ name: `models/${model}/operations/${op.id}` });
  }

  router.get('/v1beta/models/:model/operations/:id', requireKey, (req, res) => {
    counters.operationPolls++;
    const op = operations.get(String(req.params.id));
    if (!op || op.model !== req.params.model) return googleError(res, 404, 'NOT_FOUND', 'Operation not found.');
    const name = `models/${op.model}/operations/${op.id}`;
    if (now() < op.readyAt) return res.json({ name });
    switch (op.failure?.kind) {
      case 'safety':
      case 'image-safety':
      case 'refusal':
        return res.json({
          name,
          done: true,
          response: {
            '@type': VIDEO_RESPONSE_TYPE,
            generateVideoResponse: {
              raiMediaFilteredCount: 1,
              raiMediaFilteredReasons: ["Your prompt was blocked by our safety filters. (simulated)"],
            },
          },
        });
      case 'error':
        return res.json({ name, done: true, error: { code: 13, message: 'Video generation failed due to an internal error. (simulated)' } });
    }
    const uri = `${req.protocol}://${req.get('host')}${req.baseUrl}/v1beta/files/${op.id}:download?alt=media`;
    res.json({ name, done: true, response: { '@type': VIDEO_RESPONSE_TYPE, generateVideoResponse: { generatedSamples: [{ video: { uri } }] } } });
  });

  // Like the real API: the file URI answers with a redirect to short-lived storage that needs no key.
  router.get('/v1beta/files/:call', requireKey, (req, res) => {
    const [id, method] = splitCall(req.params.call);
    const op = method === 'download' ? operations.get(id) : undefined;
    if (!op || op.failure || now() < op.readyAt) return googleError(res, 404, 'NOT_FOUND', `File files/${id} does not exist.`);
    if (req.query.alt !== 'media') return googleError(res, 400, 'INVALID_ARGUMENT', 'Downloads require alt=media.');
    res.redirect(302, `${req.baseUrl}/blobs/${op.blobToken}`);
  });

  router.get('/blobs/:token', (req, res) => {
    counters.downloads++;
    if (!blobs.has(String(req.params.token))) return res.status(404).type('text/plain').send('Not Found');
    res.status(200).type('video/mp4').set('content-length', String(SANDBOX_VIDEO.length)).end(SANDBOX_VIDEO);
  });

  router.use((req: Request, res: Response) => googleError(res, 404, 'NOT_FOUND', `${req.method} ${req.path} is not a Gemini API route.`));

  router.use((err: any, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    if (err?.type === 'entity.parse.failed') return googleError(res, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    if (err?.type === 'entity.too.large') return googleError(res, 413, 'INVALID_ARGUMENT', 'Request payload size exceeds the limit.');
    return googleError(res, 500, ...HTTP_ERRORS[500]);
  });

  return { router, counters, firstFrames, close: () => shutdown.abort() };
}

export interface ListeningGeminiSandbox {
  /** e.g. http://127.0.0.1:43123 — pass as GEMINI_BASE_URL. */
  baseUrl: string;
  simulator: GeminiSandbox;
  close(): Promise<void>;
}

/** Runs the simulator on its own loopback server (port 0 = any free port), for tests and benchmarks. */
export async function listenGeminiSandbox(options: GeminiSandboxOptions, port = 0): Promise<ListeningGeminiSandbox> {
  const simulator = createGeminiSandbox(options);
  const app = express();
  app.disable('x-powered-by');
  app.use(simulator.router);
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${bound}`,
    simulator,
    close: async () => {
      simulator.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const UNPROCESSABLE_IMAGE = 'Unable to process input image. Please retry or report in https://developers.generativeai.google/guide/troubleshooting';

const IMAGE_SIGNATURES: Record<string, (b: Buffer) => boolean> = {
  'image/png': (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/jpeg': (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  'image/webp': (b) => b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP',
};

/** Inline image data as Gemini takes it: base64 bytes whose signature matches the declared type; else undefined. */
function decodedImage(data: unknown, mimeType: unknown): Buffer | undefined {
  const matches = IMAGE_SIGNATURES[String(mimeType)];
  if (typeof data !== 'string' || !matches || !/^[A-Za-z0-9+/]+={0,2}$/.test(data)) return undefined;
  const bytes = Buffer.from(data, 'base64');
  return bytes.length >= 12 && matches(bytes) ? bytes : undefined;
}

function invalidVideoParameters(p: Record<string, unknown>): string | undefined {
  if (p.aspectRatio !== undefined && p.aspectRatio !== '16:9' && p.aspectRatio !== '9:16') {
    return `aspectRatio must be 16:9 or 9:16, got ${String(p.aspectRatio)}.`;
  }
  const seconds = p.durationSeconds === undefined ? 8 : Number(p.durationSeconds);
  if (![4, 6, 8].includes(seconds)) return `durationSeconds must be 4, 6 or 8, got ${String(p.durationSeconds)}.`;
  const resolution = p.resolution ?? '720p';
  if (!['720p', '1080p', '4k'].includes(String(resolution))) return `resolution must be 720p, 1080p or 4k, got ${String(resolution)}.`;
  if (resolution !== '720p' && seconds !== 8) return `${String(resolution)} requires durationSeconds 8.`;
  return undefined;
}

function httpFailure(res: Response, status: number) {
  const [word, message] = HTTP_ERRORS[status] ?? ['UNKNOWN', `Simulated HTTP ${status}.`];
  return googleError(res, status, word, message, status === 429 ? RETRY_INFO : undefined);
}

function googleError(res: Response, code: number, status: string, message: string, details?: unknown[]) {
  res.status(code).json({ error: { code, message, status, ...(details ? { details } : {}) } });
}

function splitCall(call: string | string[]): [string, string] {
  const text = String(call);
  const at = text.lastIndexOf(':');
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + 1)];
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();
