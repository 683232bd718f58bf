// What the generation activities need from an image/video provider, in our words rather than the provider's.
// Failures are thrown as GenerationRefused or MediaProviderError (see ./failures.ts).

export interface GeneratedMedia {
  bytes: Buffer;
  mimeType: string;
}

export interface ImageRequest {
  /** Provider model id (the catalog's upstream_model), not our public model name. */
  model: string;
  prompt: string;
  aspectRatio?: string;
  imageSize?: string;
  /** Images to edit (an edit rather than a generation from the prompt alone), in the caller's order. */
  images?: GeneratedMedia[];
  /** OpenAI's mask: a PNG whose transparent pixels mark what to change in the first image. */
  mask?: GeneratedMedia;
}

export type VideoAspectRatio = '16:9' | '9:16';
export type VideoResolution = '720p' | '1080p' | '4k';

export interface VideoRequest {
  model: string;
  prompt: string;
  aspectRatio: VideoAspectRatio;
  durationSeconds: 4 | 6 | 8;
  resolution: VideoResolution;
  negativePrompt?: string;
  /** Image-to-video: the picture the video starts from. */
  firstFrame?: GeneratedMedia;
}

export type VideoJobState =
  | { state: 'running' }
  | { state: 'done'; video: { uri: string } | GeneratedMedia }
  /** The provider finished the job without a video for policy reasons: never retried, never billed. */
  | { state: 'refused'; reason: string; message: string }
  /** The job ended in an error; `retryable` says whether submitting it again may succeed. */
  | { state: 'failed'; code: string; message: string; retryable: boolean };

export interface CallOptions {
  /** Aborts the call, e.g. when the activity running it is cancelled. */
  signal?: AbortSignal;
}

export interface MediaProvider {
  generateImage(request: ImageRequest, options?: CallOptions): Promise<GeneratedMedia>;
  /** Submits a video job and returns the provider's handle for it. */
  startVideo(request: VideoRequest): Promise<string>;
  getVideoOperation(handle: string): Promise<VideoJobState>;
  downloadVideo(uri: string, options?: CallOptions): Promise<GeneratedMedia>;
}
