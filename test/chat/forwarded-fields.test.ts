import { describe, expect, it } from 'vitest';
import { refusedField } from '../../src/chat/forwarded-fields.js';
import { isBillable } from '../../src/chat/settlement.js';

const base = { model: 'gpt-5.2', messages: [{ role: 'user', content: 'hi' }] };

describe('refusedField', () => {
  it('lets a request of documented, standard-priced fields through', () => {
    expect(refusedField({ ...base, temperature: 1, service_tier: 'auto', store: false, modalities: ['text'], tools: [{ type: 'custom', custom: { name: 'x' } }] })).toBeNull();
    expect(refusedField({ ...base, service_tier: null, store: null })).toBeNull();
  });

  it('names the first field that would cost more upstream than its tokens', () => {
    expect(refusedField({ ...base, service_tier: 'priority' })).toMatchObject({ param: 'service_tier', reason: 'unpriced' });
    expect(refusedField({ ...base, tools: [{ type: 'function' }, { type: 'file_search' }] })).toMatchObject({ param: 'tools[1].type', reason: 'unpriced' });
    expect(refusedField({ ...base, tools: [null] })).toMatchObject({ param: 'tools[0].type', reason: 'unpriced' });
    expect(refusedField({ ...base, web_search_options: {} })).toMatchObject({ param: 'web_search_options', reason: 'unpriced' });
  });

  it('refuses an unknown field rather than guessing what it costs', () => {
    expect(refusedField({ ...base, top_k: 5 })).toMatchObject({ param: 'top_k', reason: 'unknown' });
  });
});

describe('isBillable', () => {
  it('charges a finished answer and a caller who left, even with no output; frees only an upstream failure before any output', () => {
    expect(isBillable('finished', false)).toBe(true);
    expect(isBillable('client_left', false)).toBe(true);
    expect(isBillable('upstream_failed', true)).toBe(true);
    expect(isBillable('upstream_failed', false)).toBe(false);
  });
});
