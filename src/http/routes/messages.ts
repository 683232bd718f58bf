import { Router } from 'express';
import { z } from 'zod';
import { countPromptTokens } from '../../chat/tokens.js';
import { messagesFace } from '../../messages/messages-face.js';
import {
  countTokensRequestSchema,
  messagesRequestSchema,
  promptOf,
  toChatRequest,
  UntranslatableMessage,
} from '../../messages/messages-request.js';
import { chatCompletionRequestSchema } from '../../providers/chat/request-schema.js';
import type { Services } from '../../services.js';
import { ApiError, fromZod, invalidRequest } from '../errors.js';
import { openapi } from '../openapi.js';
import { COST_HEADER } from './chat-exchange.js';
import { chatServing, serveChat } from './chat.js';

// Anthropic's Messages API for every chat model. The request is translated to chat completions and
// served by the chat path (one hold, one settlement, one request-log row); only the answer is
// spelt the Anthropic way. Errors take Anthropic's shape in src/http/errors.ts.

const ENDPOINT = '/v1/messages';
const COUNT_ENDPOINT = '/v1/messages/count_tokens';

const anthropicError = z.object({ type: z.literal('error'), error: z.object({ type: z.string(), message: z.string() }) });

export function messageRoutes(services: Services): Router {
  const router = Router();
  const serving = chatServing(services);

  openapi.add({
    method: 'post',
    path: ENDPOINT,
    summary:
      'Anthropic Messages API (x-api-key or Bearer; anthropic-version accepted). Billed like chat: the worst case for max_tokens is held, the usage charged',
    tag: 'chat',
    auth: 'api_key',
    body: messagesRequestSchema,
    responses: {
      200: { description: `An Anthropic message (or, with stream: true, its event stream); usage.cost and the ${COST_HEADER} header say what was charged` },
      400: { description: 'invalid_request_error', schema: anthropicError },
      401: { description: 'authentication_error', schema: anthropicError },
      402: { description: 'billing_error: the balance cannot cover the prompt and max_tokens (the message says how many tokens it affords); nothing was sent upstream', schema: anthropicError },
      404: { description: 'not_found_error: no such model', schema: anthropicError },
      503: { description: 'api_error: no provider is configured for this model', schema: anthropicError },
    },
  });

  router.post(ENDPOINT, async (req, res) => {
    res.setHeader('request-id', res.locals.requestId as string);
    const parsed = messagesRequestSchema.safeParse(req.body ?? {});
    if (!parsed.success) throw fromZod(parsed.error);
    const chat = translated(() => toChatRequest(parsed.data));
    await serveChat(serving, req.body, res, {
      endpoint: ENDPOINT,
      face: messagesFace(res.locals.requestId as string),
      // The translation is checked like a chat request of the caller's own (tools, limits, fields).
      chatRequest() {
        const valid = chatCompletionRequestSchema.safeParse(chat);
        if (!valid.success) throw fromZod(valid.error);
        return valid.data;
      },
    });
  });

  openapi.add({
    method: 'post',
    path: COUNT_ENDPOINT,
    summary: 'Anthropic token counting: the prompt tokens of a Messages request, by the tokenizer our estimates use. Free',
    tag: 'chat',
    auth: 'api_key',
    body: countTokensRequestSchema,
    responses: {
      200: { description: 'The count', schema: z.object({ input_tokens: z.number().int() }) },
      400: { description: 'invalid_request_error', schema: anthropicError },
      404: { description: 'not_found_error: no such model', schema: anthropicError },
    },
  });

  router.post(COUNT_ENDPOINT, (req, res) => {
    res.setHeader('request-id', res.locals.requestId as string);
    const parsed = countTokensRequestSchema.safeParse(req.body ?? {});
    if (!parsed.success) throw fromZod(parsed.error);
    if (!services.catalog.chat(parsed.data.model)) {
      throw new ApiError(404, 'invalid_request_error', 'model_not_found', `The model '${parsed.data.model}' does not exist. GET /v1/models lists the chat models.`, 'model');
    }
    const prompt = translated(() => promptOf(parsed.data));
    res.json({ input_tokens: countPromptTokens(prompt.messages, prompt.tools) });
  });

  return router;
}

function translated<T>(translate: () => T): T {
  try {
    return translate();
  } catch (error) {
    if (error instanceof UntranslatableMessage) throw invalidRequest(error.message, error.param, 'unsupported_value');
    throw error;
  }
}
