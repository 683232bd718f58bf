import type { ChatCompletionRequest, ChatContentPart, ChatMessage } from './types.js';

// Chat completions → Anthropic's Messages API (anthropic-version 2023-06-01). Pure: the adapter
// sends what this returns. Everything Anthropic-shaped stays in the anthropic-* modules.

export type AnthropicBlock = Record<string, unknown> & { type: string };

export interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: AnthropicBlock[];
}

export interface AnthropicRequest {
  model: string;
  max_tokens: number;
  messages: AnthropicMessage[];
  system?: string;
  stream?: boolean;
  [field: string]: unknown;
}

/** Anthropic requires `max_tokens`; the gateway always sets one, this is only a floor for direct use. */
const DEFAULT_MAX_TOKENS = 4096;

export class UntranslatableRequest extends Error {
  readonly name = 'UntranslatableRequest';
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
  }
}

export function toAnthropicRequest(request: ChatCompletionRequest, stream: boolean): AnthropicRequest {
  if ((request.n ?? 1) !== 1) throw new UntranslatableRequest('This model returns one choice per request: n must be 1.', 'n');
  const system: string[] = [];
  const messages: AnthropicMessage[] = [];
  const push = (role: AnthropicMessage['role'], blocks: AnthropicBlock[]) => {
    if (blocks.length === 0) return;
    // Anthropic wants user and assistant turns to alternate: consecutive turns of one role merge.
    const last = messages.at(-1);
    if (last?.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  };

  for (const message of request.messages) {
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(textOf(message.content));
        break;
      case 'user':
        push('user', userBlocks(message.content));
        break;
      case 'assistant':
        push('assistant', assistantBlocks(message));
        break;
      case 'tool':
      case 'function':
        push('user', [
          {
            type: 'tool_result',
            tool_use_id: String(message.tool_call_id ?? message.name ?? ''),
            content: textOf(message.content),
          },
        ]);
        break;
    }
  }

  const out: AnthropicRequest = {
    model: request.model,
    max_tokens: request.max_completion_tokens ?? request.max_tokens ?? DEFAULT_MAX_TOKENS,
    messages,
  };
  if (system.length > 0) out.system = system.join('\n\n');
  if (stream) out.stream = true;
  if (typeof request.temperature === 'number') out.temperature = Math.min(1, request.temperature);
  if (typeof request.top_p === 'number') out.top_p = request.top_p;
  if (request.stop != null) out.stop_sequences = Array.isArray(request.stop) ? request.stop : [request.stop];
  if (typeof request.user === 'string') out.metadata = { user_id: request.user };
  if (Array.isArray(request.tools) && request.tools.length > 0) {
    out.tools = (request.tools as { function?: { name?: string; description?: string; parameters?: unknown } }[]).map((tool) => ({
      name: tool.function?.name,
      ...(tool.function?.description ? { description: tool.function.description } : {}),
      input_schema: tool.function?.parameters ?? { type: 'object', properties: {} },
    }));
    const choice = toolChoice(request.tool_choice, request.parallel_tool_calls);
    if (choice) out.tool_choice = choice;
  }
  return out;
}

function toolChoice(choice: unknown, parallel: unknown): Record<string, unknown> | undefined {
  const disable = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any', ...disable };
  const named = (choice as { function?: { name?: string } } | undefined)?.function?.name;
  if (named) return { type: 'tool', name: named, ...disable };
  return parallel === false || choice === 'auto' ? { type: 'auto', ...disable } : undefined;
}

function textOf(content: ChatMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part) => (typeof part.text === 'string' ? part.text : '')).join('');
}

function userBlocks(content: ChatMessage['content']): AnthropicBlock[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return [];
  return content.flatMap((part): AnthropicBlock[] => {
    if (part.type === 'text') return [{ type: 'text', text: part.text ?? '' }];
    if (part.type === 'image_url') return [imageBlock(part)];
    throw new UntranslatableRequest(`Content parts of type '${part.type}' are not supported by this model.`, 'messages');
  });
}

function imageBlock(part: ChatContentPart): AnthropicBlock {
  const url = String((part.image_url as { url?: unknown } | undefined)?.url ?? '');
  const inline = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (inline) return { type: 'image', source: { type: 'base64', media_type: inline[1], data: inline[2] } };
  return { type: 'image', source: { type: 'url', url } };
}

function assistantBlocks(message: ChatMessage): AnthropicBlock[] {
  const blocks: AnthropicBlock[] = [];
  const text = textOf(message.content);
  if (text) blocks.push({ type: 'text', text });
  const calls = Array.isArray(message.tool_calls) ? (message.tool_calls as { id?: string; function?: { name?: string; arguments?: string } }[]) : [];
  for (const call of calls) {
    blocks.push({ type: 'tool_use', id: call.id, name: call.function?.name, input: toolInput(call.function?.arguments) });
  }
  return blocks;
}

/**
 * A chat tool call's arguments as an Anthropic `tool_use` input: usually a JSON object; anything
 * else is still passed on, not lost. Also used by the Messages face (src/messages/).
 */
export function toolInput(raw: string | undefined): unknown {
  if (!raw) return {};
  try {
    const parsed: unknown = JSON.parse(raw);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : { value: parsed };
  } catch {
    return { arguments: raw };
  }
}
