import type { ChatCompletion, ChatUsage, FinishReason } from '../providers/chat/types.js';
import type { ResponseRequest } from './request-schema.js';

// The OpenAI Response object as this gateway answers it: the request's settings echoed, the output
// items, and `usage` in Responses terms plus our `cost` (USD).

export type ResponseStatus = 'completed' | 'incomplete' | 'failed' | 'in_progress';

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
  cost?: number;
}

export interface ResponseObject {
  id: string;
  object: 'response';
  created_at: number;
  status: ResponseStatus;
  model: string;
  output: Record<string, unknown>[];
  usage: ResponseUsage | null;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: string } | null;
  [field: string]: unknown;
}

/** The ids of one response and its items, derived from the request id so a log line leads to both. */
export class ResponseIds {
  constructor(private readonly requestId: string) {}
  get response(): string {
    return `resp_${this.requestId.replace(/^req_/, '')}`;
  }
  message(index: number): string {
    return `msg_${this.requestId.replace(/^req_/, '')}_${index}`;
  }
  functionCall(index: number): string {
    return `fc_${this.requestId.replace(/^req_/, '')}_${index}`;
  }
}

/** A response before any output: the settings the caller sent, echoed as OpenAI does. */
export function responseShell(body: ResponseRequest, ids: ResponseIds, model: string, createdAt: number): ResponseObject {
  return {
    id: ids.response,
    object: 'response',
    created_at: createdAt,
    status: 'in_progress',
    model,
    output: [],
    usage: null,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    metadata: body.metadata ?? {},
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: null },
    store: false,
    temperature: body.temperature ?? null,
    text: { format: body.text?.format ?? { type: 'text' }, ...(body.text?.verbosity ? { verbosity: body.text.verbosity } : {}) },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_p: body.top_p ?? null,
    truncation: 'disabled',
    user: body.user ?? null,
  };
}

/** How a chat finish reason ends a response. */
export function endingOf(finish: FinishReason | null | undefined): Pick<ResponseObject, 'status' | 'incomplete_details'> {
  if (finish === 'length') return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  if (finish === 'content_filter') return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', incomplete_details: null };
}

export function messageItem(id: string, text: string, status: 'in_progress' | 'completed' | 'incomplete' = 'completed'): Record<string, unknown> {
  return { type: 'message', id, status, role: 'assistant', content: text === '' && status === 'in_progress' ? [] : [outputText(text)] };
}

export function outputText(text: string): Record<string, unknown> {
  return { type: 'output_text', text, annotations: [], logprobs: [] };
}

export function functionCallItem(id: string, callId: string, name: string, args: string, status: 'in_progress' | 'completed' = 'completed'): Record<string, unknown> {
  return { type: 'function_call', id, call_id: callId, name, arguments: args, status };
}

interface ChatToolCall {
  id?: string;
  function?: { name?: string; arguments?: string };
}

/** A whole chat completion (its first choice) as a finished response. */
export function fromChatCompletion(shell: ResponseObject, completion: ChatCompletion, ids: ResponseIds, usage: ResponseUsage): ResponseObject {
  const choice = completion.choices[0];
  const output: Record<string, unknown>[] = [];
  const message = choice?.message;
  if (typeof message?.refusal === 'string' && message.refusal !== '') {
    output.push({ type: 'message', id: ids.message(0), status: 'completed', role: 'assistant', content: [{ type: 'refusal', refusal: message.refusal }] });
  } else if (typeof message?.content === 'string' && message.content !== '') {
    output.push(messageItem(ids.message(0), message.content));
  }
  const calls = Array.isArray(message?.tool_calls) ? (message.tool_calls as ChatToolCall[]) : [];
  calls.forEach((call, i) => output.push(functionCallItem(ids.functionCall(i), call.id ?? `call_${i}`, call.function?.name ?? '', call.function?.arguments ?? '')));
  return { ...shell, ...endingOf(choice?.finish_reason), output, usage };
}

/** Chat usage in Responses terms. */
export function responseUsage(usage: Pick<ChatUsage, 'prompt_tokens' | 'completion_tokens'> & Record<string, unknown>): ResponseUsage {
  const cached = (usage.prompt_tokens_details as { cached_tokens?: unknown } | null | undefined)?.cached_tokens;
  const reasoning = (usage.completion_tokens_details as { reasoning_tokens?: unknown } | null | undefined)?.reasoning_tokens;
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: { cached_tokens: typeof cached === 'number' ? cached : 0 },
    output_tokens: usage.completion_tokens,
    output_tokens_details: { reasoning_tokens: typeof reasoning === 'number' ? reasoning : 0 },
    total_tokens: usage.prompt_tokens + usage.completion_tokens,
  };
}
