import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { countInputTokens, embeddingRequestSchema, inputsOf, type EmbeddingInput } from '../../embeddings/embedding-request.js';
import { encodeVectorBase64 } from '../../embeddings/vector-encoding.js';
import { defaultCatalog } from '../../pricing/catalog.js';
import type { EmbeddingItem, EmbeddingsResponse } from '../../providers/chat/embedding-types.js';
import type { OpenAIErrorBody } from '../../providers/chat/types.js';

/** Native size for upstream names the catalog does not list (text-embedding-ada-002's). */
const DEFAULT_DIMENSIONS = 1536;

/**
 * The chat sandbox's `POST /embeddings`: one deterministic unit vector per input (the same
 * input and model always give the same vector), of the model's native size or the requested
 * `dimensions`, with real token counts. `sim-error-<status>` answers that status, as for chat.
 */
export function answerEmbeddingsSandbox(req: Request, res: Response): void {
  const parsed = embeddingRequestSchema.safeParse(req.body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    res.status(400).json(errorBody(issue.message, 'invalid_request_error', 'invalid_value', issue.path.join('.') || null));
    return;
  }
  const body = parsed.data;
  const failure = /^sim-error-(\d{3})$/.exec(body.model);
  if (failure && Number(failure[1]) >= 400 && Number(failure[1]) <= 599) {
    const status = Number(failure[1]);
    res.status(status).json(errorBody(`Simulated upstream failure (HTTP ${status}).`, status >= 500 ? 'server_error' : 'invalid_request_error', 'simulated_error', null));
    return;
  }
  const inputs = inputsOf(body.input);
  const native = nativeDimensions(body.model);
  const size = Math.min(body.dimensions ?? native, native);
  const data: EmbeddingItem[] = inputs.map((input, index) => {
    const vector = sandboxVector(body.model, input, size);
    return { object: 'embedding', index, embedding: body.encoding_format === 'base64' ? encodeVectorBase64(vector) : vector };
  });
  const promptTokens = inputs.reduce((sum, input) => sum + countInputTokens(input), 0);
  const answer: EmbeddingsResponse = { object: 'list', data, model: body.model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } };
  res.json(answer);
}

function nativeDimensions(upstreamModel: string): number {
  const listed = defaultCatalog().models.find((m) => m.kind === 'embedding' && m.upstream_model === upstreamModel);
  return listed?.kind === 'embedding' ? listed.dimensions : DEFAULT_DIMENSIONS;
}

/**
 * Pseudo-random components from SHA-256 in counter mode, cut to `size` and scaled to length 1 the way
 * OpenAI shortens text-embedding-3 vectors (a shortened vector is the prefix of the full one, renormalized). Values are float32 so that both encodings carry the same numbers.
 */
export function sandboxVector(model: string, input: EmbeddingInput, size: number): number[] {
  const seed = createHash('sha256').update(model).update('\0').update(JSON.stringify(input)).digest();
  const raw = new Array<number>(size);
  for (let block = 0; block * 8 < size; block++) {
    const bytes = createHash('sha256').update(seed).update(String(block)).digest();
    for (let j = 0; j < 8 && block * 8 + j < size; j++) raw[block * 8 + j] = bytes.readUInt32LE(j * 4) / 0x8000_0000 - 1;
  }
  const norm = Math.sqrt(raw.reduce((sum, v) => sum + v * v, 0)) || 1;
  return raw.map((v) => Math.fround(v / norm));
}

function errorBody(message: string, type: string, code: string | null, param: string | null): OpenAIErrorBody {
  return { error: { message, type, code, param } };
}
