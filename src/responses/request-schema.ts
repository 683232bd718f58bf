import { z } from 'zod';

// What a POST /v1/responses body may hold. The top level is strict: like chat's allow-list
// (src/chat/forwarded-fields.ts), a field we do not know is refused by name rather than dropped or
// forwarded, since it could make the upstream charge more than the tokens it reports.

const inputText = z.looseObject({ type: z.literal('input_text'), text: z.string() });
const inputImage = z.looseObject({
  type: z.literal('input_image'),
  image_url: z.string().min(1).describe('An https URL or a data: URL (file_id needs stored files, which this gateway does not keep)'),
  detail: z.enum(['low', 'high', 'auto', 'original']).optional(),
});
/** Text the assistant said earlier, replayed as part of the input. */
const outputText = z.looseObject({ type: z.literal('output_text'), text: z.string() });
const refusal = z.looseObject({ type: z.literal('refusal'), refusal: z.string() });

const messageItem = z.looseObject({
  type: z.literal('message').optional(),
  role: z.enum(['user', 'assistant', 'system', 'developer']),
  content: z.union([z.string(), z.array(z.discriminatedUnion('type', [inputText, inputImage, outputText, refusal])).min(1)]),
});
const functionCallItem = z.looseObject({
  type: z.literal('function_call'),
  call_id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
});
const functionCallOutputItem = z.looseObject({
  type: z.literal('function_call_output'),
  call_id: z.string().min(1),
  output: z.union([z.string(), z.array(z.looseObject({ type: z.literal('input_text'), text: z.string() }))]),
});
/** Reasoning items a client replays are accepted and not forwarded: a stateless gateway cannot decrypt them. */
const reasoningItem = z.looseObject({ type: z.literal('reasoning') });

export const responseInputItemSchema = z.union([messageItem, functionCallItem, functionCallOutputItem, reasoningItem]);

const functionTool = z.strictObject({
  type: z.literal('function'),
  name: z.string().min(1).max(64),
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});

const textFormat = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object') }),
  z.strictObject({
    type: z.literal('json_schema'),
    name: z.string().min(1).max(64),
    schema: z.record(z.string(), z.unknown()),
    description: z.string().optional(),
    strict: z.boolean().nullish(),
  }),
]);

export const responseRequestSchema = z.strictObject({
  model: z.string().min(1).describe('A chat model id from GET /v1/models'),
  input: z.union([z.string(), z.array(responseInputItemSchema).min(1)]).describe('A string (one user message) or a list of input items'),
  instructions: z.string().nullish().describe('A system message placed before the input'),
  tools: z.array(functionTool).optional().describe("Function tools only: built-in tools carry per-call fees the catalog does not price"),
  tool_choice: z
    .union([z.enum(['none', 'auto', 'required']), z.strictObject({ type: z.literal('function'), name: z.string().min(1) })])
    .optional(),
  parallel_tool_calls: z.boolean().nullish(),
  max_output_tokens: z.number().int().min(1).nullish().describe('Cap on generated tokens; refused with 402 when the balance cannot cover it, lowered to what it affords when absent'),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  text: z.strictObject({ format: textFormat.optional(), verbosity: z.enum(['low', 'medium', 'high']).nullish() }).nullish(),
  reasoning: z.strictObject({ effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max']).nullish() }).nullish(),
  metadata: z.record(z.string().max(64), z.string().max(512)).nullish(),
  user: z.string().optional(),
  safety_identifier: z.string().optional(),
  prompt_cache_key: z.string().optional(),
  stream: z.boolean().nullish(),
  store: z.boolean().nullish().describe('Absent means false here (OpenAI defaults to true): responses are never stored; true is refused'),
  previous_response_id: z.string().nullish().describe('Refused: responses are not stored, so earlier turns must be sent as input items'),
});

export type ResponseRequest = z.output<typeof responseRequestSchema>;
export type ResponseInputItem = z.output<typeof responseInputItemSchema>;

/** Fields whose promise the gateway cannot keep: answered 400 with what to do instead. */
export function unsupportedState(body: ResponseRequest): { param: string; message: string } | null {
  if (body.previous_response_id != null) {
    return {
      param: 'previous_response_id',
      message: 'previous_response_id is not supported: this gateway does not store responses. Send the earlier turns as input items (their output items and function_call_output items) instead.',
    };
  }
  if (body.store === true) {
    return {
      param: 'store',
      message: 'store: true is not supported: this gateway does not store responses. Omit store or set it to false (absent means false here).',
    };
  }
  return null;
}
