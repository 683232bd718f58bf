import type { ApiError } from '../http/errors.js';
import type { BilledUsage, ChatFace, StreamFace } from '../http/routes/chat-face.js';
import type { ChatCompletion, ChatCompletionChunk } from '../providers/chat/types.js';
import { NATIVE_EVENT, NATIVE_RESPONSE } from './native-upstream.js';
import { fromChatCompletion, responseUsage, type ResponseIds, type ResponseObject, type ResponseUsage } from './response-object.js';
import { ChatStreamTranslator, ResponseEventNumbering, type ResponseEvent } from './stream-events.js';

// A chat call's answer spelt as an OpenAI Response. A route whose provider speaks Responses natively
// returned the provider's own Response (or events) beside the chat view the tally reads: those are
// passed on with our ids; any other route's chat answer is translated.

const TERMINAL = /^response\.(completed|incomplete|failed)$/;

/** The billed usage in Responses terms, with `cost`. */
function usageOf(usage: BilledUsage): ResponseUsage {
  return { ...responseUsage(usage), cost: usage.cost };
}

export function responsesFace(shell: ResponseObject, ids: ResponseIds): ChatFace {
  return {
    completion(completion: ChatCompletion, usage: BilledUsage) {
      const native = completion[NATIVE_RESPONSE] as ResponseObject | undefined;
      if (native) return { ...native, id: ids.response, model: completion.model, store: false, usage: usageOf(usage) };
      return fromChatCompletion(shell, completion, ids, usageOf(usage));
    },
    stream: () => new ResponseEvents(shell, ids),
  };
}

/** Events as the output comes, each numbered; the terminal event (with usage) once the hold is settled. */
class ResponseEvents implements StreamFace {
  private readonly numbering = new ResponseEventNumbering();
  private readonly translator: ChatStreamTranslator;
  /** Whether the accepting route speaks Responses natively: known from its first chunk. */
  private native: boolean | undefined;
  private terminal: ResponseEvent | undefined;

  constructor(
    private readonly shell: ResponseObject,
    private readonly ids: ResponseIds,
  ) {
    this.translator = new ChatStreamTranslator(shell, ids);
  }

  chunk(chunk: ChatCompletionChunk): string {
    const event = chunk[NATIVE_EVENT] as ResponseEvent | undefined;
    const events = this.begin(event !== undefined);
    if (!this.native) return this.sse([...events, ...this.translator.push(chunk)]);
    if (!event) return '';
    if (TERMINAL.test(event.type)) {
      this.terminal = event;
      return '';
    }
    return this.sse([this.ours(event, chunk.model)]);
  }

  finish(usage: BilledUsage, usageChunk: ChatCompletionChunk | undefined): string {
    const held = usageChunk?.[NATIVE_EVENT] as ResponseEvent | undefined;
    if (held && TERMINAL.test(held.type)) this.terminal = held;
    const events = this.begin(this.terminal !== undefined);
    if (!this.native) return this.sse([...events, ...this.translator.end(usageOf(usage))]);
    const response = { ...(this.terminal?.response as ResponseObject), id: this.ids.response, model: this.shell.model, store: false, usage: usageOf(usage) };
    return this.sse([{ type: this.terminal?.type ?? 'response.completed', response }]);
  }

  fail(error: ApiError, usage: BilledUsage): string {
    const events = this.begin(false);
    return this.sse([...events, ...this.translator.fail({ code: error.code ?? 'upstream_error', message: error.message }, usageOf(usage))]);
  }

  failedCode(): string | null {
    return this.terminal?.type === 'response.failed' ? 'upstream_error' : null;
  }

  /** A translated stream opens with response.created and response.in_progress; a native one sends its own. */
  private begin(native: boolean): ResponseEvent[] {
    if (this.native !== undefined) return [];
    this.native = native;
    return native ? [] : this.translator.start();
  }

  private sse(events: ResponseEvent[]): string {
    return events.map((e) => this.numbering.sse(e)).join('');
  }

  /** A provider's event with our response id and model id wherever it names the response. */
  private ours(event: ResponseEvent, model: string): ResponseEvent {
    const response = event.response as ResponseObject | undefined;
    if (!response || typeof response !== 'object') return event;
    return { ...event, response: { ...response, id: this.ids.response, model, store: false } };
  }
}
