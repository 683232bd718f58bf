import { z } from 'zod';

/**
 * What a chat-completions request must look like to be worth forwarding: the fields we read are
 * checked as OpenAI checks them, every other field passes through untouched. Shared by the gateway
 * route and the simulated upstream, which must refuse the same things.
 */
export const CHAT_ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'] as const;

const tokenLimit = z.number().int().min(1).nullish();

export const chatCompletionRequestSchema = z
  .looseObject({
    model: z.string().min(1).describe('A chat model id from GET /v1/models'),
    messages: z
      .array(
        z.looseObject({
          role: z.enum(CHAT_ROLES),
          content: z.union([z.string(), z.array(z.looseObject({ type: z.string() })), z.null()]).optional(),
          name: z.string().optional(),
        }),
      )
      .min(1),
    max_tokens: tokenLimit.describe('Deprecated by OpenAI in favour of max_completion_tokens; either caps the reply'),
    max_completion_tokens: tokenLimit.describe(
      'Cap on generated tokens per choice; lowered to what the available balance affords',
    ),
    n: z.number().int().min(1).max(128).nullish(),
    stream: z.boolean().nullish(),
    stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  })
  .refine((body) => body.stream === true || body.stream_options == null, {
    path: ['stream_options'],
    message: "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
  });

export type ValidChatCompletionRequest = z.output<typeof chatCompletionRequestSchema>;
