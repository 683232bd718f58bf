import type { ChatCompletionChunk, FinishReason } from '../providers/chat/types.js';
import { endingOf, functionCallItem, messageItem, outputText, type ResponseIds, type ResponseObject, type ResponseUsage } from './response-object.js';

// Chat-completion chunks turned into the Responses streaming events, in the documented order:
// output_item.added → content_part.added → output_text.delta… for a message, output_item.added →
// function_call_arguments.delta… for a call; every item is closed (…done events) only at the end,
// once usage is known, followed by the terminal response.completed / response.incomplete.

export type ResponseEvent = { type: string; [field: string]: unknown };

interface OpenMessage {
  outputIndex: number;
  id: string;
  text: string;
}

interface OpenCall {
  outputIndex: number;
  id: string;
  callId: string;
  name: string;
  args: string;
}

interface ChunkToolCall {
  index?: number;
  id?: string;
  function?: { name?: string; arguments?: string };
}

export class ChatStreamTranslator {
  private message: OpenMessage | undefined;
  private readonly calls = new Map<number, OpenCall>();
  private items = 0;
  private finish: FinishReason | null = null;

  constructor(
    private readonly shell: ResponseObject,
    private readonly ids: ResponseIds,
  ) {}

  start(): ResponseEvent[] {
    return [
      { type: 'response.created', response: this.shell },
      { type: 'response.in_progress', response: this.shell },
    ];
  }

  push(chunk: ChatCompletionChunk): ResponseEvent[] {
    const events: ResponseEvent[] = [];
    const choice = chunk.choices.find((c) => c.index === 0);
    if (!choice) return events;
    if (choice.finish_reason) this.finish = choice.finish_reason;
    const text = choice.delta.content ?? (typeof choice.delta.refusal === 'string' ? choice.delta.refusal : undefined);
    if (typeof text === 'string' && text !== '') {
      if (!this.message) {
        this.message = { outputIndex: this.items++, id: this.ids.message(0), text: '' };
        const at = { item_id: this.message.id, output_index: this.message.outputIndex };
        events.push({ type: 'response.output_item.added', output_index: at.output_index, item: messageItem(at.item_id, '', 'in_progress') });
        events.push({ type: 'response.content_part.added', ...at, content_index: 0, part: outputText('') });
      }
      this.message.text += text;
      events.push({ type: 'response.output_text.delta', item_id: this.message.id, output_index: this.message.outputIndex, content_index: 0, delta: text, logprobs: [] });
    }
    const toolCalls = Array.isArray(choice.delta.tool_calls) ? (choice.delta.tool_calls as ChunkToolCall[]) : [];
    for (const part of toolCalls) {
      const index = part.index ?? 0;
      let call = this.calls.get(index);
      if (!call) {
        call = { outputIndex: this.items++, id: this.ids.functionCall(index), callId: part.id ?? `call_${index}`, name: part.function?.name ?? '', args: '' };
        this.calls.set(index, call);
        events.push({ type: 'response.output_item.added', output_index: call.outputIndex, item: functionCallItem(call.id, call.callId, call.name, '', 'in_progress') });
      }
      const delta = part.function?.arguments;
      if (typeof delta === 'string' && delta !== '') {
        call.args += delta;
        events.push({ type: 'response.function_call_arguments.delta', item_id: call.id, output_index: call.outputIndex, delta });
      }
    }
    return events;
  }

  /** Closes every item and ends the response with its usage. */
  end(usage: ResponseUsage): ResponseEvent[] {
    const ending = endingOf(this.finish);
    const events = this.closeItems(ending.status === 'completed' ? 'completed' : 'incomplete');
    const response = { ...this.shell, ...ending, output: this.output(ending.status === 'completed' ? 'completed' : 'incomplete'), usage };
    events.push({ type: ending.status === 'completed' ? 'response.completed' : 'response.incomplete', response });
    return events;
  }

  /** The upstream failed after output began: the caller gets an error event and the failed response with what it was charged. */
  fail(error: { code: string; message: string }, usage: ResponseUsage): ResponseEvent[] {
    return [
      { type: 'error', code: error.code, message: error.message, param: null },
      { type: 'response.failed', response: { ...this.shell, status: 'failed', error, output: this.output('incomplete'), usage } },
    ];
  }

  private closeItems(status: 'completed' | 'incomplete'): ResponseEvent[] {
    const events: ResponseEvent[] = [];
    for (const index of this.order()) {
      if (this.message?.outputIndex === index) {
        const m = this.message;
        const at = { item_id: m.id, output_index: m.outputIndex };
        events.push({ type: 'response.output_text.done', ...at, content_index: 0, text: m.text, logprobs: [] });
        events.push({ type: 'response.content_part.done', ...at, content_index: 0, part: outputText(m.text) });
        events.push({ type: 'response.output_item.done', output_index: m.outputIndex, item: messageItem(m.id, m.text, status) });
        continue;
      }
      const call = [...this.calls.values()].find((c) => c.outputIndex === index)!;
      events.push({ type: 'response.function_call_arguments.done', item_id: call.id, output_index: call.outputIndex, name: call.name, arguments: call.args });
      events.push({ type: 'response.output_item.done', output_index: call.outputIndex, item: functionCallItem(call.id, call.callId, call.name, call.args) });
    }
    return events;
  }

  private output(status: 'completed' | 'incomplete'): Record<string, unknown>[] {
    return this.order().map((index) => {
      if (this.message?.outputIndex === index) return messageItem(this.message.id, this.message.text, status);
      const call = [...this.calls.values()].find((c) => c.outputIndex === index)!;
      return functionCallItem(call.id, call.callId, call.name, call.args);
    });
  }

  private order(): number[] {
    return Array.from({ length: this.items }, (_, i) => i);
  }
}

/** One event as a server-sent event, numbered in the order the caller receives them. */
export class ResponseEventNumbering {
  private next = 0;

  sse(event: ResponseEvent): string {
    const numbered = { ...event, sequence_number: this.next++ };
    return `event: ${event.type}\ndata: ${JSON.stringify(numbered)}\n\n`;
  }
}
