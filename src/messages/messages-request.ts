import { z } from 'zod';
import type { ChatContentPart, ChatMessage } from '../providers/chat/types.js';

// Anthropic's Messages API request (anthropic-version 2023-06-01) and its translation to a chat
// completions request for routes that do not speak Anthropic (Anthropic's own routes get the body
// as it is: src/messages/native-upstream.ts). Either way one hold, one settlement.
// Pure. The reverse direction (chat → Anthropic, for Anthropic upstreams) is in providers/chat.

const textBlock = z.looseObject({ type: z.literal('text'), text: z.string() });
const block = z.looseObject({ type: z.string().min(1) });

const messageParam = z.strictObject({
  role: z.enum(['user', 'assistant']),
  content: z.union([z.string(), z.array(block)]),
});

const tool = z.looseObject({
  name: z.string().min(1).max(128),
  description: z.string().optional(),
  input_schema: z.looseObject({ type: z.literal('object') }).optional(),
  type: z.string().optional(),
});

const toolChoice = z.strictObject({
  type: z.enum(['auto', 'any', 'none', 'tool']),
  name: z.string().min(1).optional(),
  disable_parallel_tool_use: z.boolean().optional(),
});

export const messagesRequestSchema = z
  .strictObject({
    model: z.string().min(1).describe('A chat model id from GET /v1/models (or a snapshot alias such as claude-sonnet-4-5-20250929)'),
    max_tokens: z.number().int().min(1).describe('Required, as with Anthropic; 402 when the balance cannot cover it'),
    messages: z.array(messageParam).min(1),
    system: z.union([z.string(), z.array(textBlock)]).optional(),
    stop_sequences: z.array(z.string()).optional(),
    temperature: z.number().min(0).max(1).optional(),
    top_p: z.number().min(0).max(1).optional(),
    top_k: z.number().int().min(0).optional().describe('Passed on by routes to Anthropic; dropped by the others'),
    stream: z.boolean().optional(),
    metadata: z.strictObject({ user_id: z.string().max(256).nullish() }).optional(),
    tools: z.array(tool).optional(),
    tool_choice: toolChoice.optional(),
    thinking: z.looseObject({ type: z.string() }).optional().describe('Passed on by routes to Anthropic (thinking blocks relayed); dropped by the others'),
    context_management: z.unknown().optional().describe('Passed on by routes to Anthropic; dropped by the others'),
    service_tier: z.enum(['auto', 'standard_only']).optional(),
  })
  .refine((r) => r.tool_choice?.type !== 'tool' || r.tool_choice.name, { path: ['tool_choice', 'name'], message: 'is required when type is "tool"' });

export type MessagesRequest = z.output<typeof messagesRequestSchema>;

/** `count_tokens` takes the prompt half of a request: no max_tokens, no sampling. */
export const countTokensRequestSchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(messageParam).min(1),
  system: z.union([z.string(), z.array(textBlock)]).optional(),
  tools: z.array(tool).optional(),
  tool_choice: toolChoice.optional(),
});

export type CountTokensRequest = z.output<typeof countTokensRequestSchema>;

/** A request that cannot be said in chat-completion terms; answered 400 naming the field. */
export class UntranslatableMessage extends Error {
  readonly name = 'UntranslatableMessage';
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
  }
}

/** Chat-completion fields the translation produces; the chat path forwards every one of them. */
export interface TranslatedChatRequest {
  model: string;
  messages: ChatMessage[];
  max_completion_tokens?: number;
  stream?: boolean;
  stop?: string[];
  temperature?: number;
  top_p?: number;
  user?: string;
  tools?: unknown[];
  tool_choice?: unknown;
  parallel_tool_calls?: boolean;
}

export function toChatRequest(request: MessagesRequest): TranslatedChatRequest {
  const out: TranslatedChatRequest = { ...promptOf(request), max_completion_tokens: request.max_tokens };
  if (request.stream === true) out.stream = true;
  if (request.stop_sequences?.length) out.stop = request.stop_sequences;
  if (request.temperature !== undefined) out.temperature = request.temperature;
  if (request.top_p !== undefined) out.top_p = request.top_p;
  if (request.metadata?.user_id) out.user = request.metadata.user_id;
  // thinking, context_management, service_tier and top_k are accepted (Claude Code sends some of
  // them) but have no chat-completions equivalent: the translated request goes without them (a
  // native Anthropic route gets them).
  return out;
}

/** The prompt alone (system, messages, tools): what is sent and what count_tokens counts. */
export function promptOf(request: CountTokensRequest): Pick<TranslatedChatRequest, 'model' | 'messages' | 'tools' | 'tool_choice' | 'parallel_tool_calls'> {
  const messages: ChatMessage[] = [];
  const system = typeof request.system === 'string' ? request.system : request.system?.map((b) => b.text).join('\n\n');
  if (system) messages.push({ role: 'system', content: system });
  request.messages.forEach((message, i) => messages.push(...chatMessagesOf(message, `messages[${i}]`)));

  const out: ReturnType<typeof promptOf> = { model: request.model, messages };
  if (request.tools?.length && request.tool_choice?.type !== 'none') {
    out.tools = request.tools.map((t, i) => {
      if (t.type !== undefined && t.type !== 'custom') {
        throw new UntranslatableMessage(`Tools of type '${t.type}' (Anthropic's server tools) are not offered: only client tools with an input_schema are.`, `tools[${i}].type`);
      }
      return {
        type: 'function',
        function: { name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.input_schema ?? { type: 'object', properties: {} } },
      };
    });
    const choice = request.tool_choice;
    if (choice?.type === 'any') out.tool_choice = 'required';
    if (choice?.type === 'tool') out.tool_choice = { type: 'function', function: { name: choice.name } };
    if (choice?.disable_parallel_tool_use === true) out.parallel_tool_calls = false;
  }
  return out;
}

type Block = z.output<typeof block>;

/**
 * One Anthropic turn as chat messages. A user turn's tool results come first (Anthropic requires
 * it) and each becomes its own `tool` message, which chat wants right after the assistant's calls;
 * the rest of the turn follows as one user message.
 */
function chatMessagesOf(message: z.output<typeof messageParam>, at: string): ChatMessage[] {
  if (typeof message.content === 'string') return [{ role: message.role, content: message.content }];
  if (message.role === 'assistant') return [assistantMessage(message.content, at)];

  const out: ChatMessage[] = [];
  const parts: ChatContentPart[] = [];
  message.content.forEach((b, j) => {
    const where = `${at}.content[${j}]`;
    if (b.type === 'tool_result') {
      const { text, images } = toolResultContent(b.content, `${where}.content`);
      out.push({ role: 'tool', tool_call_id: String(b.tool_use_id ?? ''), content: b.is_error === true && text ? `Error: ${text}` : text });
      // Chat's tool messages carry text only; images a tool returned follow as user content.
      parts.push(...images);
      return;
    }
    parts.push(userPart(b, where));
  });
  if (parts.length > 0) out.push({ role: 'user', content: parts });
  return out;
}

function userPart(b: Block, where: string): ChatContentPart {
  if (b.type === 'text') return { type: 'text', text: String(b.text ?? '') };
  if (b.type === 'image') return imagePart(b, where);
  throw new UntranslatableMessage(`Content blocks of type '${b.type}' are not supported by this model.`, `${where}.type`);
}

function imagePart(b: Block, where: string): ChatContentPart {
  const source = b.source as { type?: unknown; media_type?: unknown; data?: unknown; url?: unknown } | undefined;
  if (source?.type === 'base64' && typeof source.media_type === 'string' && typeof source.data === 'string') {
    return { type: 'image_url', image_url: { url: `data:${source.media_type};base64,${source.data}` } };
  }
  if (source?.type === 'url' && typeof source.url === 'string') return { type: 'image_url', image_url: { url: source.url } };
  throw new UntranslatableMessage("An image block needs a source of type 'base64' (media_type, data) or 'url'.", `${where}.source`);
}

function toolResultContent(content: unknown, where: string): { text: string; images: ChatContentPart[] } {
  if (content === undefined || content === null) return { text: '', images: [] };
  if (typeof content === 'string') return { text: content, images: [] };
  if (!Array.isArray(content)) throw new UntranslatableMessage('A tool_result content must be a string or an array of blocks.', where);
  const texts: string[] = [];
  const images: ChatContentPart[] = [];
  content.forEach((b: Block, k) => {
    if (b?.type === 'text') texts.push(String(b.text ?? ''));
    else if (b?.type === 'image') images.push(imagePart(b, `${where}[${k}]`));
    else throw new UntranslatableMessage(`Tool result blocks of type '${String(b?.type)}' are not supported by this model.`, `${where}[${k}].type`);
  });
  return { text: texts.join('\n'), images };
}

function assistantMessage(blocks: Block[], at: string): ChatMessage {
  const text: string[] = [];
  const calls: unknown[] = [];
  blocks.forEach((b, j) => {
    if (b.type === 'text') text.push(String(b.text ?? ''));
    else if (b.type === 'tool_use') {
      calls.push({ id: String(b.id ?? ''), type: 'function', function: { name: String(b.name ?? ''), arguments: JSON.stringify(b.input ?? {}) } });
    } else if (b.type !== 'thinking' && b.type !== 'redacted_thinking') {
      // Earlier thinking is the model's own scratch work: chat models neither need nor take it.
      throw new UntranslatableMessage(`Content blocks of type '${b.type}' are not supported in assistant turns.`, `${at}.content[${j}].type`);
    }
  });
  const message: ChatMessage = { role: 'assistant', content: text.length ? text.join('') : null };
  if (calls.length) message.tool_calls = calls;
  return message;
}
