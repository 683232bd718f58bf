// Gemini API adapter for images (generateContent with inline image data) and Veo video (predictLongRunning,
// operation polling, file download), over plain fetch. Wire facts: /work/shared/notes/protocols.md §3–4.
// Nothing Gemini-specific leaves this file: callers see MediaProvider, GenerationRefused, MediaProviderError.
import {
  GenerationRefused,
  MediaProviderError,
  failureKindForHttp,
  isRetryableHttp,
} from './failures.js';
import type {
  CallOptions,
  GeneratedMedia,
  ImageRequest,
  MediaProvider,
  VideoJobState,
  VideoRequest,
} from './media-provider.js';

export const DEFAULT_GEMINI_BASE_URL = 'https://generativelanguage.googleapis.com';

export interface GeminiMediaOptions {
  apiKey: string;
  /** Origin (optionally with a path prefix, e.g. the embedded sandbox); a trailing `/v1beta` is tolerated. */
  baseUrl?: string;
  /** Per call; Pro image models think before drawing, so this is generous. */
  requestTimeoutMs?: number;
  downloadTimeoutMs?: number;
  maxDownloadBytes?: number;
  fetch?: typeof fetch;
}

const MODEL_ID = /^[A-Za-z0-9._-]{1,128}$/;
const OPERATION_NAME = /^(models\/[A-Za-z0-9._-]{1,128}\/)?operations\/[A-Za-z0-9._-]{1,256}$/;
const MAX_REDIRECTS = 5;
const MAX_MESSAGE = 500;

// google.rpc.Code numbers as they appear in a finished operation's `error.code`.
const RPC_CODES: Record<number, string> = {
  1: 'CANCELLED', 2: 'UNKNOWN', 3: 'INVALID_ARGUMENT', 4: 'DEADLINE_EXCEEDED', 5: 'NOT_FOUND',
  6: 'ALREADY_EXISTS', 7: 'PERMISSION_DENIED', 8: 'RESOURCE_EXHAUSTED', 9: 'FAILED_PRECONDITION',
  10: 'ABORTED', 11: 'OUT_OF_RANGE', 12: 'UNIMPLEMENTED', 13: 'INTERNAL', 14: 'UNAVAILABLE',
  15: 'DATA_LOSS', 16: 'UNAUTHENTICATED',
};
const RETRYABLE_RPC = new Set([4, 8, 10, 13, 14]);

export function createGeminiMediaProvider(options: GeminiMediaOptions): MediaProvider {
  const base = normalizeBaseUrl(options.baseUrl ?? DEFAULT_GEMINI_BASE_URL);
  const baseOrigin = new URL(base).origin;
  const fetchImpl = options.fetch ?? fetch;
  const requestTimeoutMs = options.requestTimeoutMs ?? 180_000;
  const downloadTimeoutMs = options.downloadTimeoutMs ?? 300_000;
  const maxDownloadBytes = options.maxDownloadBytes ?? 512 * 1024 * 1024;

  const within = (ms: number, call?: CallOptions) =>
    call?.signal ? AbortSignal.any([AbortSignal.timeout(ms), call.signal]) : AbortSignal.timeout(ms);

  async function callJson(method: 'GET' | 'POST', path: string, body?: unknown, call?: CallOptions): Promise<Record<string, any>> {
    let res: Response;
    let text: string;
    try {
      res = await fetchImpl(`${base}/v1beta/${path}`, {
        method,
        headers: {
          'x-goog-api-key': options.apiKey,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: within(requestTimeoutMs, call),
      });
      text = await res.text();
    } catch (err) {
      throw transportFailure(err);
    }
    if (!res.ok) throw httpFailure(res.status, text, res.headers);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new MediaProviderError('bad_response', `Gemini answered ${res.status} with a body that is not JSON`, true, res.status);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new MediaProviderError('bad_response', `Gemini answered ${res.status} with an unexpected body`, true, res.status);
    }
    return parsed as Record<string, any>;
  }

  return {
    async generateImage(request: ImageRequest, call?: CallOptions): Promise<GeneratedMedia> {
      assertModel(request.model);
      const imageConfig: Record<string, string> = {};
      if (request.aspectRatio) imageConfig.aspectRatio = request.aspectRatio;
      if (request.imageSize) imageConfig.imageSize = request.imageSize;
      const answer = await callJson('POST', `models/${request.model}:generateContent`, {
        contents: [{ role: 'user', parts: imageParts(request) }],
        generationConfig: {
          responseModalities: ['IMAGE'],
          ...(Object.keys(imageConfig).length ? { imageConfig } : {}),
        },
      }, call);
      return imageFromResponse(answer);
    },

    async startVideo(request: VideoRequest): Promise<string> {
      assertModel(request.model);
      const answer = await callJson('POST', `models/${request.model}:predictLongRunning`, {
        instances: [{
          prompt: request.prompt,
          ...(request.firstFrame ? { image: { bytesBase64Encoded: request.firstFrame.bytes.toString('base64'), mimeType: request.firstFrame.mimeType } } : {}),
        }],
        parameters: {
          aspectRatio: request.aspectRatio,
          durationSeconds: request.durationSeconds,
          resolution: request.resolution,
          ...(request.negativePrompt ? { negativePrompt: request.negativePrompt } : {}),
        },
      });
      if (typeof answer.name !== 'string' || !OPERATION_NAME.test(answer.name)) {
        throw new MediaProviderError('bad_response', 'Gemini accepted the video job without a usable operation name', true);
      }
      return answer.name;
    },

    async getVideoOperation(name: string): Promise<VideoJobState> {
      if (!OPERATION_NAME.test(name)) {
        throw new MediaProviderError('invalid_request', 'not a Gemini operation name', false);
      }
      return videoStateFromOperation(await callJson('GET', name));
    },

    async downloadVideo(uri: string, call?: CallOptions): Promise<GeneratedMedia> {
      const signal = within(downloadTimeoutMs, call);
      let target = parseHttpUrl(uri);
      try {
        for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
          // The key goes only to the API's own origin: a redirect to a signed storage URL must not receive it.
          const headers: Record<string, string> = target.origin === baseOrigin ? { 'x-goog-api-key': options.apiKey } : {};
          const res = await fetchImpl(target, { headers, redirect: 'manual', signal });
          if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
            await res.body?.cancel();
            target = parseHttpUrl(new URL(res.headers.get('location')!, target).toString());
            continue;
          }
          if (!res.ok) throw httpFailure(res.status, await res.text(), res.headers);
          const bytes = await readCapped(res, maxDownloadBytes);
          const mimeType = (res.headers.get('content-type') ?? 'video/mp4').split(';')[0].trim() || 'video/mp4';
          return { bytes, mimeType: mimeType === 'application/octet-stream' ? 'video/mp4' : mimeType };
        }
      } catch (err) {
        if (err instanceof MediaProviderError) throw err;
        throw transportFailure(err);
      }
      throw new MediaProviderError('bad_response', `video download redirected more than ${MAX_REDIRECTS} times`, true);
    },
  };
}

/** Images to edit go first as inline parts, then the mask with a line saying what it is, then the prompt. */
function imageParts(request: ImageRequest): Record<string, unknown>[] {
  const inline = (m: GeneratedMedia) => ({ inlineData: { mimeType: m.mimeType, data: m.bytes.toString('base64') } });
  const parts: Record<string, unknown>[] = (request.images ?? []).map(inline);
  if (request.mask) {
    parts.push({ text: 'The next image is a mask for the first image: change only where the mask is transparent, keep the rest as it is.' });
    parts.push(inline(request.mask));
  }
  parts.push({ text: request.prompt });
  return parts;
}

function imageFromResponse(answer: Record<string, any>): GeneratedMedia {
  const blockReason = answer.promptFeedback?.blockReason;
  if (typeof blockReason === 'string' && blockReason) {
    const detail = answer.promptFeedback?.blockReasonMessage;
    throw new GenerationRefused(blockReason, clip(`the provider blocked the prompt (${blockReason})${detail ? `: ${detail}` : ''}`));
  }
  const candidates: any[] = Array.isArray(answer.candidates) ? answer.candidates : [];
  const texts: string[] = [];
  for (const candidate of candidates) {
    const parts: any[] = Array.isArray(candidate?.content?.parts) ? candidate.content.parts : [];
    for (const part of parts) {
      if (part?.thought === true) continue;
      const inline = part?.inlineData ?? part?.inline_data;
      if (inline && typeof inline.data === 'string' && inline.data.length > 0) {
        const bytes = Buffer.from(inline.data, 'base64');
        if (bytes.length === 0) {
          throw new MediaProviderError('bad_response', 'Gemini returned an empty inline image', true);
        }
        return { bytes, mimeType: String(inline.mimeType ?? inline.mime_type ?? 'image/png') };
      }
      if (typeof part?.text === 'string') texts.push(part.text);
    }
  }
  const finish = candidates[0]?.finishReason;
  const reason = typeof finish === 'string' && finish !== 'STOP' ? finish : texts.length ? 'TEXT_ONLY' : 'NO_IMAGE';
  const said = texts.join(' ').trim() || candidates[0]?.finishMessage;
  throw new GenerationRefused(reason, clip(`the provider returned no image (${reason})${said ? `: ${said}` : ''}`));
}

function videoStateFromOperation(op: Record<string, any>): VideoJobState {
  if (op.done !== true) return { state: 'running' };
  if (op.error) {
    const code = Number(op.error.code);
    return {
      state: 'failed',
      code: RPC_CODES[code] ?? (typeof op.error.status === 'string' ? op.error.status : 'UNKNOWN'),
      message: clip(String(op.error.message ?? 'the video job failed')),
      retryable: RETRYABLE_RPC.has(code),
    };
  }
  const result = op.response?.generateVideoResponse ?? op.response ?? {};
  const samples: any[] = result.generatedSamples ?? result.generatedVideos ?? [];
  const video = samples.find((s) => s?.video)?.video;
  if (video && typeof video.uri === 'string' && video.uri) return { state: 'done', video: { uri: video.uri } };
  if (video && typeof video.encodedVideo === 'string' && video.encodedVideo) {
    return {
      state: 'done',
      video: { bytes: Buffer.from(video.encodedVideo, 'base64'), mimeType: String(video.encoding ?? 'video/mp4') },
    };
  }
  const reasons: string[] = Array.isArray(result.raiMediaFilteredReasons) ? result.raiMediaFilteredReasons.map(String) : [];
  if (Number(result.raiMediaFilteredCount) > 0 || reasons.length) {
    return { state: 'refused', reason: 'RAI_FILTERED', message: clip(reasons.join(' ') || 'the provider filtered the video for safety') };
  }
  return { state: 'failed', code: 'NO_VIDEO', message: 'the video job finished without a video', retryable: false };
}

function httpFailure(status: number, body: string, headers: Headers): MediaProviderError {
  let err: any;
  try {
    err = JSON.parse(body)?.error;
  } catch {
    err = undefined;
  }
  const providerStatus = typeof err?.status === 'string' ? err.status : undefined;
  const details: any[] = Array.isArray(err?.details) ? err.details : [];
  const badKey = details.some((d) => d?.reason === 'API_KEY_INVALID');
  const message = typeof err?.message === 'string' ? err.message : body.slice(0, 200) || `HTTP ${status}`;
  return new MediaProviderError(
    badKey ? 'auth' : failureKindForHttp(status),
    clip(`Gemini API ${status}${providerStatus ? ` ${providerStatus}` : ''}: ${message}`),
    isRetryableHttp(status),
    status,
    providerStatus,
    retryDelayMs(details, headers),
  );
}

// Google puts the wait in a RetryInfo detail ("30s"); plain HTTP puts it in Retry-After (seconds).
function retryDelayMs(details: any[], headers: Headers): number | undefined {
  const info = details.find((d) => String(d?.['@type'] ?? '').endsWith('google.rpc.RetryInfo'));
  const match = typeof info?.retryDelay === 'string' ? /^(\d+(?:\.\d+)?)s$/.exec(info.retryDelay) : null;
  if (match) return Math.round(Number(match[1]) * 1000);
  const header = headers.get('retry-after');
  if (header && /^\d+$/.test(header)) return Number(header) * 1000;
  return undefined;
}

function transportFailure(err: unknown): MediaProviderError {
  const e = err as { name?: string; message?: string; cause?: { code?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
    return new MediaProviderError('timeout', 'Gemini did not answer in time', true);
  }
  const code = e?.cause?.code ? ` (${e.cause.code})` : '';
  return new MediaProviderError('network', clip(`could not reach Gemini: ${e?.message ?? String(err)}${code}`), true);
}

async function readCapped(res: Response, max: number): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel();
    throw new MediaProviderError('bad_response', `video larger than ${max} bytes`, false);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  if (res.body) {
    for await (const chunk of res.body) {
      total += chunk.byteLength;
      if (total > max) throw new MediaProviderError('bad_response', `video larger than ${max} bytes`, false);
      chunks.push(Buffer.from(chunk));
    }
  }
  if (total === 0) throw new MediaProviderError('bad_response', 'video download was empty', true);
  return Buffer.concat(chunks, total);
}

function assertModel(model: string): void {
  if (!MODEL_ID.test(model)) throw new MediaProviderError('invalid_request', `not a Gemini model id: ${clip(model, 80)}`, false);
}

function parseHttpUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new MediaProviderError('bad_response', 'video uri is not a URL', false);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new MediaProviderError('bad_response', 'video uri is not http(s)', false);
  }
  return url;
}

function normalizeBaseUrl(value: string): string {
  const url = new URL(value);
  return url.toString().replace(/\/+$/, '').replace(/\/v1beta$/, '');
}

const clip = (text: string, max = MAX_MESSAGE): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
