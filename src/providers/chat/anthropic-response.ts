import type { ChatCompletion, ChatCompletionChunk, ChatUsage, FinishReason } from './types.js';

// Anthropic's Messages API answers → chat completions, plain and streamed. Pure: the adapter feeds
// in what the upstream sent and relays what comes out.

export interface AnthropicUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

interface AnthropicContentBlock {
  type: string;
  text?: string;
  id?: string;
  name?: string;
  input?: unknown;
}

export interface AnthropicMessageResponse {
  id: string;
  type: 'message';
  model: string;
  content: AnthropicContentBlock[];
  stop_reason: string | null;
  usage: AnthropicUsage;
}

export function isAnthropicMessage(value: unknown): value is AnthropicMessageResponse {
  const v = value as AnthropicMessageResponse | null;
  return !!v && typeof v === 'object' && Array.isArray(v.content) && typeof v.usage === 'object' && v.usage !== null;
}

export function finishReasonOf(stopReason: string | null | undefined): FinishReason | null {
  switch (stopReason) {
    case null:
    case undefined:
      return null;
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      // end_turn, stop_sequence, pause_turn
      return 'stop';
  }
}

/**
 * Anthropic counts cached prompt tokens apart from `input_tokens`; OpenAI counts them inside
 * `prompt_tokens` and names the cached part. Cache writes are kept too, as they are priced apart.
 */
export function chatUsageOf(usage: AnthropicUsage): ChatUsage {
  const cacheRead = usage.cache_read_input_tokens ?? 0;
  const cacheWrite = usage.cache_creation_input_tokens ?? 0;
  const prompt = (usage.input_tokens ?? 0) + cacheRead + cacheWrite;
  const completion = usage.output_tokens ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cacheRead, cache_write_tokens: cacheWrite },
  };
}

export function fromAnthropicMessage(message: AnthropicMessageResponse, created = nowSeconds()): ChatCompletion {
  const text = message.content.filter((b) => b.type === 'text').map((b) => b.text ?? '').join('');
  const toolCalls = message.content
    .filter((b) => b.type === 'tool_use')
    .map((b) => ({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } }));
  return {
    id: message.id,
    object: 'chat.completion',
    created,
    model: message.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: text === '' && toolCalls.length > 0 ? null : text, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) },
        finish_reason: finishReasonOf(message.stop_reason),
        logprobs: null,
      },
    ],
    usage: chatUsageOf(message.usage),
  };
}

/** An `error` event inside an Anthropic stream. */
export class AnthropicStreamError extends Error {
  readonly name = 'AnthropicStreamError';
  constructor(readonly data: string) {
    super('the upstream reported an error inside its stream');
  }
}

/**
 * One streamed answer: each Anthropic event becomes zero or more chunks. Tool-use blocks become
 * `tool_calls` numbered in order of appearance; the usage (counted over `message_start` and
 * `message_delta`) closes the stream as OpenAI's include_usage chunk.
 */
export class AnthropicStreamTranslator {
  private id = '';
  private model = '';
  private readonly created = nowSeconds();
  private usage: AnthropicUsage = {};
  private readonly toolIndex = new Map<number, number>();
  /** Set by `message_stop`: nothing more is expected. */
  done = false;

  translate(event: string, data: string): ChatCompletionChunk[] {
    if (event === 'error') throw new AnthropicStreamError(data);
    if (event === 'ping') return [];
    const payload = JSON.parse(data) as Record<string, any>;
    switch (payload.type) {
      case 'message_start': {
        const message = payload.message ?? {};
        this.id = String(message.id ?? '');
        this.model = String(message.model ?? '');
        this.usage = { ...(message.usage ?? {}) };
        return [this.chunk({ role: 'assistant', content: '' })];
      }
      case 'content_block_start': {
        const block = payload.content_block ?? {};
        if (block.type !== 'tool_use') return [];
        const index = this.toolIndex.size;
        this.toolIndex.set(payload.index, index);
        return [this.chunk({ tool_calls: [{ index, id: block.id, type: 'function', function: { name: block.name, arguments: '' } }] })];
      }
      case 'content_block_delta': {
        const delta = payload.delta ?? {};
        if (delta.type === 'text_delta') return [this.chunk({ content: delta.text ?? '' })];
        if (delta.type === 'input_json_delta' && this.toolIndex.has(payload.index)) {
          return [this.chunk({ tool_calls: [{ index: this.toolIndex.get(payload.index), function: { arguments: delta.partial_json ?? '' } }] })];
        }
        return [];
      }
      case 'message_delta': {
        this.usage = { ...this.usage, ...definedOnly(payload.usage ?? {}) };
        return [this.chunk({}, finishReasonOf(payload.delta?.stop_reason))];
      }
      case 'message_stop':
        this.done = true;
        return [{ ...this.chunk({}), choices: [], usage: chatUsageOf(this.usage) }];
      default:
        return [];
    }
  }

  private chunk(delta: ChatCompletionChunk['choices'][number]['delta'], finish: FinishReason | null = null): ChatCompletionChunk {
    return {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      choices: [{ index: 0, delta, finish_reason: finish }],
    };
  }
}

function definedOnly(usage: Record<string, unknown>): AnthropicUsage {
  return Object.fromEntries(Object.entries(usage).filter(([, v]) => typeof v === 'number')) as AnthropicUsage;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
