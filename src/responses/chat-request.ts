import type { ValidChatCompletionRequest } from '../providers/chat/request-schema.js';
import type { ChatContentPart, ChatMessage } from '../providers/chat/types.js';
import type { ResponseInputItem, ResponseRequest } from './request-schema.js';

// A Responses request in chat-completions terms: what the routes without a native Responses API are
// sent, and what the hold is planned and a cut answer estimated from on every route.

/** The chat request equivalent to `body`, without an output limit (the hold decides it). */
export function toChatRequest(body: ResponseRequest): ValidChatCompletionRequest {
  const messages: ChatMessage[] = [];
  if (body.instructions) messages.push({ role: 'system', content: body.instructions });
  if (typeof body.input === 'string') messages.push({ role: 'user', content: body.input });
  else for (const item of body.input) addItem(messages, item);

  const chat: ValidChatCompletionRequest = { model: body.model, messages: messages as ValidChatCompletionRequest['messages'] };
  if (body.tools?.length) {
    chat.tools = body.tools.map((t) => ({
      type: 'function',
      function: {
        name: t.name,
        ...(t.description != null ? { description: t.description } : {}),
        ...(t.parameters != null ? { parameters: t.parameters } : {}),
        ...(t.strict != null ? { strict: t.strict } : {}),
      },
    }));
  }
  if (body.tool_choice !== undefined) {
    chat.tool_choice = typeof body.tool_choice === 'string' ? body.tool_choice : { type: 'function', function: { name: body.tool_choice.name } };
  }
  if (body.parallel_tool_calls != null && body.tools?.length) chat.parallel_tool_calls = body.parallel_tool_calls;
  if (body.temperature != null) chat.temperature = body.temperature;
  if (body.top_p != null) chat.top_p = body.top_p;
  const format = body.text?.format;
  if (format?.type === 'json_schema') {
    chat.response_format = {
      type: 'json_schema',
      json_schema: {
        name: format.name,
        schema: format.schema,
        ...(format.description !== undefined ? { description: format.description } : {}),
        ...(format.strict != null ? { strict: format.strict } : {}),
      },
    };
  } else if (format) chat.response_format = { type: format.type };
  if (body.text?.verbosity != null) chat.verbosity = body.text.verbosity;
  if (body.reasoning?.effort != null) chat.reasoning_effort = body.reasoning.effort;
  for (const field of ['user', 'safety_identifier', 'prompt_cache_key'] as const) {
    if (body[field] !== undefined) chat[field] = body[field];
  }
  if (body.stream === true) chat.stream = true;
  return chat;
}

function addItem(messages: ChatMessage[], item: ResponseInputItem): void {
  if (isMessage(item)) {
    // `developer` is OpenAI's newer name for `system`; many OpenAI-compatible servers know only the latter.
    const role: string = item.role === 'developer' ? 'system' : item.role;
    messages.push({ role, content: typeof item.content === 'string' ? item.content : contentOf(role, item.content) });
    return;
  }
  if (item.type === 'function_call') {
    const call = { id: item.call_id, type: 'function', function: { name: item.name, arguments: item.arguments } };
    const last = messages.at(-1);
    // Calls made in one turn belong to one assistant message, as chat completions expects.
    if (last?.role === 'assistant' && (Array.isArray(last.tool_calls) || !last.content)) {
      last.tool_calls = [...((last.tool_calls as unknown[] | undefined) ?? []), call];
    } else {
      messages.push({ role: 'assistant', content: null, tool_calls: [call] });
    }
    return;
  }
  if (item.type === 'function_call_output') {
    const output = typeof item.output === 'string' ? item.output : item.output.map((p) => p.text).join('');
    messages.push({ role: 'tool', tool_call_id: item.call_id, content: output });
  }
  // Reasoning items are not forwarded: chat completions has no place for them.
}

type MessageItem = Extract<ResponseInputItem, { role: 'user' | 'assistant' | 'system' | 'developer' }>;
type ContentPart = Exclude<MessageItem['content'], string>[number];

function isMessage(item: ResponseInputItem): item is MessageItem {
  return item.type === undefined || item.type === 'message';
}

/** Assistant turns are plain text in chat completions; user turns keep their images. */
function contentOf(role: string, parts: ContentPart[]): string | ChatContentPart[] {
  const text = (p: ContentPart) => (p.type === 'refusal' ? p.refusal : p.type === 'input_image' ? '' : p.text);
  if (role !== 'user' || !parts.some((p) => p.type === 'input_image')) return parts.map(text).join('');
  return parts.map((p) =>
    p.type === 'input_image'
      ? { type: 'image_url', image_url: { url: p.image_url, ...(p.detail && p.detail !== 'original' ? { detail: p.detail } : {}) } }
      : { type: 'text', text: text(p) },
  );
}
