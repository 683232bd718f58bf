// OpenAI request vocabulary (size "1280x720", seconds "8") translated to what Gemini accepts, plus the
// progress estimate shown while a video renders. Pure: the routes validate with it, the workflow imports it.
import type { ImageParams, VideoParams } from './generation-types.js';

const IMAGE_ASPECT_RATIOS = ['1:1', '2:3', '3:2', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', '21:9'] as const;

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/** `size` "auto" or "WxH" → the nearest Gemini aspect ratio and an image size tier covering the long side. */
export function imageParamsFor(size: string | undefined): Parsed<ImageParams> {
  if (size === undefined || size === 'auto') return { ok: true, value: {} };
  const m = /^(\d{2,5})x(\d{2,5})$/.exec(size);
  const [w, h] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  if (!m || w < 64 || h < 64 || w > 8192 || h > 8192) {
    return { ok: false, message: "size must be 'auto' or WIDTHxHEIGHT, e.g. '1024x1024', '1536x1024' or '1024x1536'" };
  }
  const target = Math.log(w / h);
  let best: string = IMAGE_ASPECT_RATIOS[0];
  for (const r of IMAGE_ASPECT_RATIOS) {
    const [a, b] = r.split(':').map(Number);
    const [ba, bb] = best.split(':').map(Number);
    if (Math.abs(Math.log(a / b) - target) < Math.abs(Math.log(ba / bb) - target)) best = r;
  }
  const longSide = Math.max(w, h);
  return { ok: true, value: { aspectRatio: best, imageSize: longSide <= 1024 ? '1K' : longSide <= 2048 ? '2K' : '4K' } };
}

const VIDEO_SIZES: Record<string, Pick<VideoParams, 'aspectRatio' | 'resolution'>> = {
  '1280x720': { aspectRatio: '16:9', resolution: '720p' },
  '720x1280': { aspectRatio: '9:16', resolution: '720p' },
  '1920x1080': { aspectRatio: '16:9', resolution: '1080p' },
  '1080x1920': { aspectRatio: '9:16', resolution: '1080p' },
  '3840x2160': { aspectRatio: '16:9', resolution: '4k' },
  '2160x3840': { aspectRatio: '9:16', resolution: '4k' },
  // Sora's sizes, which the official SDK's types offer: served at the nearest Veo resolution.
  '1792x1024': { aspectRatio: '16:9', resolution: '1080p' },
  '1024x1792': { aspectRatio: '9:16', resolution: '1080p' },
};

export const VIDEO_SIZE_NAMES = Object.keys(VIDEO_SIZES);

export function videoParamsFor(size: string, seconds: string): Parsed<VideoParams> {
  const shape = VIDEO_SIZES[size];
  if (!shape) return { ok: false, message: `size must be one of ${VIDEO_SIZE_NAMES.join(', ')}` };
  if (!['4', '6', '8'].includes(seconds)) return { ok: false, message: "seconds must be '4', '6' or '8'" };
  const durationSeconds = Number(seconds) as VideoParams['durationSeconds'];
  if (shape.resolution !== '720p' && durationSeconds !== 8) {
    return { ok: false, message: `size ${size} (${shape.resolution}) is only available with seconds '8'` };
  }
  return { ok: true, value: { ...shape, durationSeconds } };
}

/** 0–95 in steps of 5: a time-based estimate that never claims completion before the provider does. */
export function progressEstimate(elapsedMs: number, expectedMs: number): number {
  if (elapsedMs <= 0 || expectedMs <= 0) return 0;
  return Math.min(95, Math.floor((elapsedMs / expectedMs) * 20) * 5);
}
