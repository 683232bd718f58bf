// What the gateway sends upstream is an explicit allow-list: a chat request is billed at the
// catalog's per-token text rates from the upstream's own usage count, so every field forwarded
// must leave that count the whole price. A field that makes the upstream charge us more than the
// tokens it reports (a priority tier, per-call search fees, audio) would be spend we cannot bill.
// The README's "Chat request fields" section lists the same thing for customers; keep them in step.

/**
 * Forwarded as sent. Each either shapes sampling or output format (price stays per token), or is
 * something the gateway itself reads and rewrites (`max_*tokens`, `stream_options`, `model`).
 */
export const FORWARDED_FIELDS: ReadonlySet<string> = new Set([
  'model',
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'n',
  'stream',
  'stream_options',
  'temperature',
  'top_p',
  'frequency_penalty',
  'presence_penalty',
  'stop',
  'seed',
  'logit_bias',
  'logprobs',
  'top_logprobs',
  'response_format',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'functions',
  'function_call',
  // Predicted outputs: rejected prediction tokens are reported (and so billed) as completion tokens.
  'prediction',
  'reasoning_effort',
  'verbosity',
  'user',
  'safety_identifier',
  'prompt_cache_key',
  'metadata',
  'service_tier',
  'store',
  'modalities',
]);

/** Known OpenAI fields that add charges beyond the tokens reported, and so are refused by name. */
const UNPRICED_FIELDS: ReadonlyMap<string, string> = new Map([
  ['web_search_options', 'Web search is not offered: it carries per-call fees the catalog does not price.'],
  ['audio', "Audio output is not offered: it is priced differently from the catalog's text rates."],
]);

/** Tool kinds that are plain text in and out; others (web search, file search…) carry per-call fees. */
const TEXT_TOOL_TYPES = new Set(['function', 'custom']);
/** Tiers billed at the standard rates the catalog prices. `priority` costs more, `flex` differently. */
const STANDARD_TIERS = new Set(['auto', 'default']);

export interface RefusedField {
  /** Where the field is, in OpenAI's `param` notation (`tools[0].type`). */
  param: string;
  reason: 'unknown' | 'unpriced';
  message: string;
}

/**
 * The first field of `body` that may not go upstream, or null when every field may. Unknown fields
 * are refused rather than dropped, as OpenAI itself refuses them: a caller whose option would be
 * silently ignored learns it at once, and we never guess what a new field costs.
 */
export function refusedField(body: Record<string, unknown>): RefusedField | null {
  for (const field of Object.keys(body)) {
    const unpricedReason = UNPRICED_FIELDS.get(field);
    if (unpricedReason) return unpriced(field, unpricedReason);
    if (!FORWARDED_FIELDS.has(field)) {
      return {
        param: field,
        reason: 'unknown',
        message: `Unrecognized request argument supplied: ${field}. The fields this gateway forwards are listed in its README (Chat request fields).`,
      };
    }
  }
  const tier = body.service_tier;
  if (tier != null && !(typeof tier === 'string' && STANDARD_TIERS.has(tier))) {
    return unpriced('service_tier', `service_tier ${JSON.stringify(tier)} is not offered: only 'auto' and 'default' are billed at the catalog's prices.`);
  }
  if (body.store === true) {
    // Stored completions would keep the customer's conversation in our provider account, where
    // neither we nor they can see, bill or delete it.
    return unpriced('store', 'store: true is not offered by this gateway; completions are never stored upstream.');
  }
  if (Array.isArray(body.modalities) && body.modalities.some((m) => m !== 'text')) {
    return unpriced('modalities', "Only the 'text' modality is offered: audio output is priced differently from the catalog's text rates.");
  }
  if (Array.isArray(body.tools)) {
    for (const [i, tool] of body.tools.entries()) {
      const type = (tool as { type?: unknown } | null)?.type;
      if (typeof type !== 'string' || !TEXT_TOOL_TYPES.has(type)) {
        return unpriced(`tools[${i}].type`, `Tools of type ${JSON.stringify(type)} are not offered: only 'function' and 'custom' tools, whose cost is their tokens, are.`);
      }
    }
  }
  if (Array.isArray(body.messages)) {
    for (const [i, message] of body.messages.entries()) {
      const content = (message as { content?: unknown } | null)?.content;
      if (!Array.isArray(content)) continue;
      for (const [j, part] of content.entries()) {
        if ((part as { type?: unknown } | null)?.type === 'input_audio') {
          return unpriced(`messages[${i}].content[${j}].type`, "Audio input is not offered: it is priced differently from the catalog's text rates.");
        }
      }
    }
  }
  return null;
}

function unpriced(param: string, message: string): RefusedField {
  return { param, reason: 'unpriced', message };
}
