import { z } from 'zod';
import { countTextTokens } from '../chat/tokens.js';
import type { EmbeddingModel } from '../pricing/catalog.js';

// What an embeddings request may ask for, with OpenAI's limits: at most 2048 inputs, none empty,
// each within the model's input limit and 300,000 tokens across the request.

export const MAX_INPUTS = 2048;
export const MAX_REQUEST_TOKENS = 300_000;
/**
 * Special tokens an embedding tokenizer may add around each input (BOS/EOS, e.g. `<s>`…`</s>` in
 * bge-m3's XLM-R vocabulary), which our own count of the text does not see. Held, never charged.
 */
export const SPECIAL_TOKENS_PER_INPUT = 2;

const text = z.string().min(1, 'an input cannot be an empty string');
const tokens = z.array(z.number().int().nonnegative()).min(1, 'a token array cannot be empty');
const many = <T extends z.ZodType>(item: T) =>
  z.array(item).min(1, 'cannot be an empty array').max(MAX_INPUTS, `at most ${MAX_INPUTS} inputs are allowed in one request`);

/** A union's own message ("Invalid input") says nothing; this names what is wrong and where. */
function inputProblem(value: unknown): string {
  const shape = `'input' must be a non-empty string, an array of up to ${MAX_INPUTS} non-empty strings, an array of token ids, or an array of up to ${MAX_INPUTS} such arrays.`;
  if (value === undefined) return "Missing required parameter: 'input'.";
  if (value === '') return "'input' cannot be an empty string.";
  if (!Array.isArray(value)) return shape;
  if (value.length === 0) return "'input' cannot be an empty array.";
  if (value.length > MAX_INPUTS) return `'input' has ${value.length} items; at most ${MAX_INPUTS} are allowed.`;
  return shape;
}

export const embeddingRequestSchema = z.object({
  model: z.string().min(1).max(200).describe('An embedding model id from GET /v1/models'),
  input: z
    .union([
      text,
      many(text),
      tokens,
      many(tokens),
    ], { error: (issue) => inputProblem(issue.input) })
    .describe(`A string, up to ${MAX_INPUTS} strings, an array of token ids, or up to ${MAX_INPUTS} such arrays`),
  encoding_format: z
    .enum(['float', 'base64'])
    .nullish()
    .describe('`float` (default) or `base64`: little-endian float32 values, base64-encoded'),
  dimensions: z.number().int().min(1).nullish().describe('Shorter vectors, for models that support it; at most the native size'),
  user: z.string().max(256).nullish(),
});

export type EmbeddingRequest = z.output<typeof embeddingRequestSchema>;
export type EmbeddingInput = string | number[];

/** One input per vector: a bare string or token array is a single input. */
export function inputsOf(input: EmbeddingRequest['input']): EmbeddingInput[] {
  if (typeof input === 'string') return [input];
  if (input.length > 0 && typeof input[0] === 'number') return [input as number[]];
  return input as EmbeddingInput[];
}

export function countInputTokens(input: EmbeddingInput): number {
  return typeof input === 'string' ? countTextTokens(input) : input.length;
}

export type EmbeddingPlan =
  | { ok: true; inputs: EmbeddingInput[]; promptTokens: number; holdTokens: number }
  | { ok: false; message: string; param: string };

/**
 * Checks the request against the model (its dimensions, its input limit) and counts its tokens:
 * `promptTokens` as OpenAI counts them, `holdTokens` the most an upstream may bill for them.
 */
export function planEmbedding(model: EmbeddingModel, request: EmbeddingRequest): EmbeddingPlan {
  if (request.dimensions != null) {
    if (!model.custom_dimensions) {
      return { ok: false, param: 'dimensions', message: `The model ${model.id} does not support the 'dimensions' parameter.` };
    }
    if (request.dimensions > model.dimensions) {
      return { ok: false, param: 'dimensions', message: `'dimensions' is ${request.dimensions}; the model ${model.id} returns at most ${model.dimensions}.` };
    }
  }
  const inputs = inputsOf(request.input);
  let promptTokens = 0;
  for (const [index, input] of inputs.entries()) {
    const count = countInputTokens(input);
    if (count > model.max_input_tokens) {
      return {
        ok: false,
        param: inputs.length === 1 ? 'input' : `input[${index}]`,
        message: `This model's maximum input length is ${model.max_input_tokens} tokens; input ${index} has ${count}. Shorten or split it.`,
      };
    }
    promptTokens += count;
  }
  if (promptTokens > MAX_REQUEST_TOKENS) {
    return { ok: false, param: 'input', message: `The request has ${promptTokens} tokens; at most ${MAX_REQUEST_TOKENS} may be sent in one request.` };
  }
  return { ok: true, inputs, promptTokens, holdTokens: promptTokens + inputs.length * SPECIAL_TOKENS_PER_INPUT };
}
