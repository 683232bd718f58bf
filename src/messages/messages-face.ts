import type { BilledUsage, ChatFace, StreamFace, StreamedAnswer } from '../http/routes/chat-face.js';
import type { ApiError } from '../http/errors.js';
import { toolInput } from '../providers/chat/anthropic-request.js';
import type { ChatCompletion, ChatCompletionChunk, FinishReason } from '../providers/chat/types.js';
import { anthropicErrorBody } from './anthropic-errors.js';
import { NATIVE_MESSAGE, NATIVE_MESSAGE_EVENT } from './native-upstream.js';

// A chat exchange's answer spelt as Anthropic's Messages API: the whole message, or the documented
// event sequence (message_start, content_block_start/delta/stop, message_delta, message_stop). A
// route whose provider speaks Anthropic returned its own message (or events) beside the chat view
// the tally reads: those are passed on untouched but for our id, model and billed usage; any other
// route's chat answer is translated.

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  /** Exact USD taken from the balance, as chat's `usage.cost`; SDKs ignore fields they do not know. */
  cost?: number;
}

/** Anthropic's input_tokens exclude the cache reads and writes that chat's prompt_tokens include. */
export function anthropicUsageOf(usage: BilledUsage): AnthropicUsage {
  const details = usage.prompt_tokens_details as { cached_tokens?: unknown; cache_write_tokens?: unknown } | null | undefined;
  const read = count(details?.cached_tokens);
  const write = count(details?.cache_write_tokens);
  return {
    input_tokens: Math.max(usage.prompt_tokens - read - write, 0),
    output_tokens: usage.completion_tokens,
    cache_creation_input_tokens: write,
    cache_read_input_tokens: read,
    cost: usage.cost,
  };
}

export function stopReasonOf(finish: FinishReason | null | undefined): string {
  switch (finish) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

/** Chat's request id stands for the message id, so a message can be found in the usage log. */
const messageId = (requestId: string) => `msg_${requestId.replace(/^req_/, '')}`;

interface ToolCall {
  id?: string;
  function?: { name?: string; arguments?: string };
}

export function messagesFace(requestId: string): ChatFace {
  return {
    completion(completion: ChatCompletion, usage: BilledUsage) {
      const native = completion[NATIVE_MESSAGE] as Record<string, unknown> | undefined;
      if (native) return { ...native, id: messageId(requestId), model: completion.model, usage: nativeUsage(native.usage, usage) };
      const choice = completion.choices[0];
      const content: Record<string, unknown>[] = [];
      const text = typeof choice?.message.content === 'string' ? choice.message.content : '';
      if (text) content.push({ type: 'text', text });
      for (const call of (choice?.message.tool_calls as ToolCall[] | undefined) ?? []) {
        content.push({ type: 'tool_use', id: call.id ?? '', name: call.function?.name ?? '', input: toolInput(call.function?.arguments) });
      }
      return {
        id: messageId(requestId),
        type: 'message',
        role: 'assistant',
        model: completion.model,
        content,
        stop_reason: stopReasonOf(choice?.finish_reason),
        stop_sequence: null,
        usage: anthropicUsageOf(usage),
      };
    },
    stream: (answer) => new NativeOrTranslatedEvents(answer, messageId(requestId)),
  };
}

/** The provider's own usage fields (e.g. cache_creation's breakdown) kept, its counts replaced by what was billed. */
function nativeUsage(own: unknown, billed: BilledUsage): Record<string, unknown> {
  return { ...(own !== null && typeof own === 'object' ? own : {}), ...anthropicUsageOf(billed) };
}

type NativeEvent = Record<string, unknown> & { type: string };

/**
 * A native route's events relayed as they come, with our message id and model on message_start;
 * message_delta (its usage is the provider's) is held until the hold is settled, then sent with the
 * billed usage before message_stop. Whether the accepting route is native is known from its first chunk.
 */
class NativeOrTranslatedEvents implements StreamFace {
  private readonly translated: MessageEvents;
  private native: boolean | undefined;
  private delta: NativeEvent | undefined;

  constructor(
    private readonly answer: StreamedAnswer,
    private readonly id: string,
  ) {
    this.translated = new MessageEvents(answer, id);
  }

  chunk(chunk: ChatCompletionChunk): string {
    const native = chunk[NATIVE_MESSAGE_EVENT] as NativeEvent | undefined;
    this.native ??= native !== undefined;
    if (!this.native) return this.translated.chunk(chunk);
    if (!native) return '';
    if (native.type === 'message_delta') {
      this.delta = native;
      return '';
    }
    if (native.type === 'message_start') {
      return relay({ ...native, message: { ...(native.message as object), id: this.id, model: this.answer.model } });
    }
    return relay(native);
  }

  finish(usage: BilledUsage, usageChunk: ChatCompletionChunk | undefined): string {
    if (!this.native) return this.translated.finish(usage);
    const delta = this.delta ?? { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null } };
    const stop = (usageChunk?.[NATIVE_MESSAGE_EVENT] as NativeEvent | undefined) ?? { type: 'message_stop' };
    return relay({ ...delta, usage: nativeUsage(delta.usage, usage) }) + relay(stop);
  }

  fail(error: ApiError): string {
    return this.translated.fail(error);
  }
}

/** An event as the provider named it, on the SSE `event:` line and in the payload. */
function relay(payload: NativeEvent): string {
  return `event: ${payload.type}\ndata: ${JSON.stringify(payload)}\n\n`;
}

/**
 * Chat chunks → Anthropic stream events. Text and each tool call become content blocks in the order
 * they appear; a block is closed when the next opens. The usage is only known after settlement, so
 * `message_start` says 0 input tokens and `message_delta` carries every count (cumulative, as
 * Anthropic's SDKs read it).
 */
class MessageEvents implements StreamFace {
  private started = false;
  /** Index of the open content block, and what it is: text, or the chat index of a tool call. */
  private open: { index: number; tool?: number } | undefined;
  private blocks = 0;
  private readonly toolBlocks = new Map<number, number>();
  private finishReason: FinishReason | null = null;

  constructor(
    private readonly answer: StreamedAnswer,
    private readonly id: string,
  ) {}

  chunk(chunk: ChatCompletionChunk): string {
    let out = this.start();
    const choice = chunk.choices[0];
    if (!choice) return out;
    const delta = choice.delta;
    if (typeof delta.content === 'string' && delta.content !== '') {
      if (!this.open || this.open.tool !== undefined) out += this.openBlock({ type: 'text', text: '' });
      out += event('content_block_delta', { index: this.open!.index, delta: { type: 'text_delta', text: delta.content } });
    }
    for (const call of (delta.tool_calls as (ToolCall & { index?: number })[] | undefined) ?? []) {
      const tool = call.index ?? 0;
      if (!this.toolBlocks.has(tool)) {
        out += this.openBlock({ type: 'tool_use', id: call.id ?? '', name: call.function?.name ?? '', input: {} }, tool);
        this.toolBlocks.set(tool, this.open!.index);
      }
      const args = call.function?.arguments;
      if (args) out += event('content_block_delta', { index: this.toolBlocks.get(tool), delta: { type: 'input_json_delta', partial_json: args } });
    }
    if (choice.finish_reason) this.finishReason = choice.finish_reason;
    return out;
  }

  finish(usage: BilledUsage): string {
    let out = this.start() + this.closeBlock();
    out += event('message_delta', { delta: { stop_reason: stopReasonOf(this.finishReason), stop_sequence: null }, usage: anthropicUsageOf(usage) });
    return out + event('message_stop', {});
  }

  fail(error: ApiError): string {
    return event('error', anthropicErrorBody(error));
  }

  private start(): string {
    if (this.started) return '';
    this.started = true;
    const message = {
      id: this.id,
      type: 'message',
      role: 'assistant',
      model: this.answer.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    };
    return event('message_start', { message }) + event('ping', {});
  }

  private openBlock(contentBlock: Record<string, unknown>, tool?: number): string {
    const out = this.closeBlock();
    this.open = { index: this.blocks++, tool };
    return out + event('content_block_start', { index: this.open.index, content_block: contentBlock });
  }

  private closeBlock(): string {
    if (!this.open) return '';
    const index = this.open.index;
    this.open = undefined;
    return event('content_block_stop', { index });
  }
}

/** Anthropic names every event twice: the SSE `event:` line and the payload's `type`. */
function event(type: string, data: object): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : 0;
}
