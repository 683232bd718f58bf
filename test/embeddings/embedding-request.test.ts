import { describe, expect, it } from 'vitest';
import { countTextTokens } from '../../src/chat/tokens.js';
import {
  MAX_INPUTS,
  SPECIAL_TOKENS_PER_INPUT,
  embeddingRequestSchema,
  inputsOf,
  planEmbedding,
} from '../../src/embeddings/embedding-request.js';
import { decodeVectorBase64, encodeVectorBase64, inFormat } from '../../src/embeddings/vector-encoding.js';
import { defaultCatalog } from '../../src/pricing/catalog.js';

const catalog = defaultCatalog();
const small = catalog.embedding('text-embedding-3-small')!;
const bge = catalog.embedding('bge-m3')!;

function firstIssue(body: unknown) {
  const parsed = embeddingRequestSchema.safeParse(body);
  expect(parsed.success).toBe(false);
  return parsed.error!.issues[0]!;
}

describe('embedding requests', () => {
  it('treats a bare string or a bare token array as one input, and arrays of them as many', () => {
    expect(inputsOf('hi')).toEqual(['hi']);
    expect(inputsOf([1, 2, 3])).toEqual([[1, 2, 3]]);
    expect(inputsOf(['a', 'b'])).toEqual(['a', 'b']);
    expect(inputsOf([[1], [2, 3]])).toEqual([[1], [2, 3]]);
  });

  it('refuses empty inputs and more than 2048 items with a message naming the problem', () => {
    expect(firstIssue({ model: 'm', input: '' }).message).toMatch(/cannot be an empty string/);
    expect(firstIssue({ model: 'm', input: [] }).message).toMatch(/cannot be an empty array/);
    expect(firstIssue({ model: 'm', input: ['a', ''] })).toMatchObject({ path: ['input', 1], message: expect.stringMatching(/cannot be an empty string/) });
    expect(firstIssue({ model: 'm', input: [[1], []] })).toMatchObject({ path: ['input', 1], message: expect.stringMatching(/token array cannot be empty/) });
    expect(firstIssue({ model: 'm', input: Array(MAX_INPUTS + 1).fill('a') }).message).toMatch(/2049 items; at most 2048/);
    expect(firstIssue({ model: 'm', input: [1.5] }).message).toMatch(/must be a non-empty string/);
    expect(firstIssue({ model: 'm' }).message).toMatch(/Missing required parameter: 'input'/);
    expect(firstIssue({ model: 'm', input: 'a', encoding_format: 'int8' }).path).toEqual(['encoding_format']);
    expect(embeddingRequestSchema.safeParse({ model: 'm', input: Array(MAX_INPUTS).fill('a') }).success).toBe(true);
  });

  it('counts tokens with the tokenizer, holding for the special tokens an upstream may add', () => {
    const body = embeddingRequestSchema.parse({ model: small.id, input: ['The quick brown fox', 'jumps'] });
    const plan = planEmbedding(small, body);
    const tokens = countTextTokens('The quick brown fox') + countTextTokens('jumps');
    expect(plan).toEqual({ ok: true, inputs: ['The quick brown fox', 'jumps'], promptTokens: tokens, holdTokens: tokens + 2 * SPECIAL_TOKENS_PER_INPUT });
    const ids = planEmbedding(small, embeddingRequestSchema.parse({ model: small.id, input: [[1, 2, 3], [4]] }));
    expect(ids).toMatchObject({ ok: true, promptTokens: 4 });
  });

  it("refuses 'dimensions' above the native size or on a model without it", () => {
    expect(planEmbedding(small, embeddingRequestSchema.parse({ model: small.id, input: 'x', dimensions: 1536 })).ok).toBe(true);
    expect(planEmbedding(small, embeddingRequestSchema.parse({ model: small.id, input: 'x', dimensions: 1537 }))).toMatchObject({ ok: false, param: 'dimensions' });
    expect(planEmbedding(bge, embeddingRequestSchema.parse({ model: bge.id, input: 'x', dimensions: 512 }))).toMatchObject({
      ok: false,
      param: 'dimensions',
      message: expect.stringMatching(/does not support/),
    });
  });

  it('refuses an input above the model limit and a request above 300,000 tokens', () => {
    const long = Array(small.max_input_tokens + 1).fill(7);
    expect(planEmbedding(small, embeddingRequestSchema.parse({ model: small.id, input: [[1], long] }))).toMatchObject({ ok: false, param: 'input[1]' });
    const full = Array(small.max_input_tokens).fill(7);
    const many = Array(37).fill(full); // 37 × 8192 = 303,104 tokens
    expect(planEmbedding(small, embeddingRequestSchema.parse({ model: small.id, input: many }))).toMatchObject({
      ok: false,
      param: 'input',
      message: expect.stringMatching(/303104 tokens; at most 300000/),
    });
  });
});

describe('base64 vectors', () => {
  it('are little-endian float32, as the OpenAI clients decode them', () => {
    const encoded = encodeVectorBase64([1, -0.5]);
    expect(Buffer.from(encoded, 'base64')).toEqual(Buffer.from([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xbf]));
    const native = new Float32Array(new Uint8Array(Buffer.from(encoded, 'base64')).buffer);
    expect([...native]).toEqual([1, -0.5]);
    expect(decodeVectorBase64(encoded)).toEqual([1, -0.5]);
    expect(inFormat(encoded, 'float')).toEqual([1, -0.5]);
    expect(inFormat([1, -0.5], 'base64')).toBe(encoded);
    expect(() => decodeVectorBase64('AAA=')).toThrow(RangeError);
  });
});
