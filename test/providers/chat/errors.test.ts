import { describe, expect, it } from 'vitest';
import { normalizeUpstreamErrorBody } from '../../../src/providers/chat/errors.js';

describe('normalizeUpstreamErrorBody', () => {
  it('keeps an OpenAI error body as it is', () => {
    const body = { error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded', param: null } };
    expect(normalizeUpstreamErrorBody(429, JSON.stringify(body))).toEqual(body);
  });

  it('lifts a vLLM top-level error into OpenAI shape', () => {
    const vllm = { object: 'error', message: 'max_tokens is too large', type: 'BadRequestError', param: null, code: 400 };
    expect(normalizeUpstreamErrorBody(400, JSON.stringify(vllm))).toEqual({
      error: { message: 'max_tokens is too large', type: 'BadRequestError', code: '400', param: null },
    });
  });

  it('wraps an Ollama string error, typing it from the status', () => {
    expect(normalizeUpstreamErrorBody(404, '{"error":"model \\"llama9\\" not found"}')).toEqual({
      error: { message: 'model "llama9" not found', type: 'not_found_error', code: null, param: null },
    });
  });

  it('keeps a short plain-text body and drops an HTML page', () => {
    expect(normalizeUpstreamErrorBody(502, 'Bad Gateway').error).toMatchObject({ message: 'Bad Gateway', type: 'api_error' });
    expect(normalizeUpstreamErrorBody(503, '<html><body>down</body></html>').error.message).toBe('upstream answered HTTP 503');
    expect(normalizeUpstreamErrorBody(500, '').error.message).toBe('upstream answered HTTP 500');
  });

  it('redacts the secrets it is given', () => {
    const raw = JSON.stringify({ error: { message: 'bad key sk-abc, really sk-abc' } });
    expect(normalizeUpstreamErrorBody(401, raw, ['sk-abc']).error).toMatchObject({
      message: 'bad key [redacted], really [redacted]',
      type: 'authentication_error',
    });
  });
});
