import { sseData, SSE_DONE } from '../../providers/chat/sse.js';
import type { ChatCompletion, ChatCompletionChunk, ChatUsage } from '../../providers/chat/types.js';
import type { ApiError } from '../errors.js';

// How a chat exchange's answer is spelt to the caller. The exchange (hold, upstream call, fallback,
// settlement: src/chat/chat-call.ts) is the same for every API surface that sells chat; only the wire
// format of the answer differs: OpenAI's chat completions here, Anthropic's Messages in src/messages/,
// OpenAI's Responses in src/responses/.

/** The usage billed, in chat terms, with `cost`: the exact USD taken from the balance. */
export type BilledUsage = ChatUsage & { cost: number };

export interface ChatFace {
  /** The body of a non-streamed answer; `completion.model` is already our public model id. */
  completion(completion: ChatCompletion, usage: BilledUsage): unknown;
  /** A fresh writer for one streamed answer. */
  stream(answer: StreamedAnswer): StreamFace;
}

export interface StreamedAnswer {
  /** Our public model id. */
  model: string;
  requestId: string;
  /** OpenAI's `stream_options.include_usage`, as the caller sent it. */
  includeUsage: boolean;
}

/** Each method returns the server-sent events to write ('' for none). */
export interface StreamFace {
  /** One upstream chunk with content (usage-only chunks are kept for `finish`). */
  chunk(chunk: ChatCompletionChunk): string;
  /** After settlement: the billed usage, and the upstream's own usage chunk when it sent one. */
  finish(usage: BilledUsage, usageChunk: ChatCompletionChunk | undefined): string;
  /** The upstream failed after the 200 was sent; `usage` is what was billed for the output so far. */
  fail(error: ApiError, usage: BilledUsage): string;
  /**
   * The error code to record when the stream ended by the provider's own failure event rather than
   * an upstream error (a native Responses `response.failed`); null when it did not.
   */
  failedCode?(): string | null;
}

export const openAiFace: ChatFace = {
  completion: (completion, usage) => ({ ...completion, usage }),
  stream: (answer) => ({
    chunk(chunk) {
      if (answer.includeUsage) return sseData(chunk);
      const { usage: _dropped, ...rest } = chunk;
      return sseData(rest);
    },
    finish(usage, usageChunk) {
      let out = '';
      if (answer.includeUsage) {
        const base = usageChunk ?? { id: `chatcmpl-${answer.requestId}`, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000) };
        out += sseData({ ...base, model: answer.model, choices: [], usage });
      }
      return out + sseData(SSE_DONE);
    },
    fail: (error) => sseData(error.body()),
  }),
};
