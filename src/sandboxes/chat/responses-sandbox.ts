import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import { countPromptTokens } from '../../chat/tokens.js';
import type { ChatCompletion, ChatCompletionChunk } from '../../providers/chat/types.js';
import { toChatRequest } from '../../responses/chat-request.js';
import { responseRequestSchema } from '../../responses/request-schema.js';
import { fromChatCompletion, ResponseIds, responseShell, responseUsage } from '../../responses/response-object.js';
import { ChatStreamTranslator, ResponseEventNumbering } from '../../responses/stream-events.js';
import { sandboxReply, sandboxToolCall } from './sandbox-reply.js';

/**
 * The simulator's Responses face (`POST /responses`), for providers marked `"responses": true`: the
 * same deterministic reply as its chat face, as a Response object or the documented event stream
 * ending in `response.completed` with usage. Its answer is built as the chat face's and put in
 * Responses terms, so both faces bill the same tokens for the same request.
 */
export function answerResponsesSandbox(req: Request, res: Response): void {
  const parsed = responseRequestSchema.safeParse(req.body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    res.status(400).json({ error: { message: `Invalid '${issue.path.join('.')}': ${issue.message}`, type: 'invalid_request_error', code: 'invalid_value', param: issue.path.join('.') } });
    return;
  }
  const body = parsed.data;
  const chat = toChatRequest(body);
  const promptTokens = countPromptTokens(chat.messages, chat.tools);
  const toolCall = sandboxToolCall(body.tools, body.tool_choice, JSON.stringify(chat.messages));
  const reply = sandboxReply(body.model, chat.messages, 0, body.max_output_tokens ?? undefined);
  const completionTokens = toolCall ? toolCall.tokens : reply.tokens.length;
  const usage = responseUsage({ prompt_tokens: promptTokens, completion_tokens: completionTokens });
  const ids = new ResponseIds(`req_sim${randomUUID().replaceAll('-', '')}`);
  const shell = responseShell(body, ids, body.model, Math.floor(Date.now() / 1000));
  const calls = toolCall ? [{ index: 0, id: toolCall.callId, type: 'function', function: { name: toolCall.name, arguments: toolCall.arguments } }] : undefined;
  const finish = toolCall ? 'tool_calls' : reply.finishReason;

  if (body.stream !== true) {
    const completion: ChatCompletion = {
      id: ids.response,
      object: 'chat.completion',
      created: shell.created_at,
      model: body.model,
      choices: [{ index: 0, message: { role: 'assistant', content: toolCall ? null : reply.tokens.join(''), ...(calls ? { tool_calls: calls } : {}) }, finish_reason: finish }],
    };
    res.json(fromChatCompletion(shell, completion, ids, usage));
    return;
  }
  const translator = new ChatStreamTranslator(shell, ids);
  const numbering = new ResponseEventNumbering();
  const chunk = (delta: ChatCompletionChunk['choices'][number]['delta'], finishReason: ChatCompletionChunk['choices'][number]['finish_reason'] = null): ChatCompletionChunk => ({
    id: ids.response,
    object: 'chat.completion.chunk',
    created: shell.created_at,
    model: body.model,
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  });
  const events = translator.start();
  if (calls) {
    events.push(...translator.push(chunk({ tool_calls: [{ ...calls[0]!, function: { name: toolCall!.name, arguments: '' } }] })));
    events.push(...translator.push(chunk({ tool_calls: [{ index: 0, function: { arguments: toolCall!.arguments } }] })));
  } else {
    for (const token of reply.tokens) events.push(...translator.push(chunk({ content: token })));
  }
  events.push(...translator.push(chunk({}, finish)));
  events.push(...translator.end(usage));
  res.status(200).set({ 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  res.end(events.map((e) => numbering.sse(e)).join(''));
}
