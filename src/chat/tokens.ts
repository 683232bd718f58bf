import { encode } from 'gpt-tokenizer';

// Token counts with a real tokenizer (o200k_base, the GPT-4o/GPT-5 encoding). The simulated upstream
// reports these, and the gateway falls back on them when an upstream stops before reporting usage.

/** Special-token strings in user text are counted as the text they are, as OpenAI does. */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

// OpenAI's published accounting for chat prompts: every message is wrapped in 3 tokens, a name adds
// 1, and the reply is primed with 3 more.
export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_NAME = 1;
export const REPLY_PRIMING_TOKENS = 3;
/** A non-text content part (image, audio, file) is counted as a low-detail image. */
export const NON_TEXT_PART_TOKENS = 85;

/** The fields of a chat message that count towards the prompt. */
export interface CountableMessage {
  role: string;
  content?: unknown;
  name?: unknown;
  tool_calls?: unknown;
  tool_call_id?: unknown;
}

export function countTextTokens(text: string): number {
  return encode(text, PLAIN_TEXT).length;
}

export function countMessageTokens(message: CountableMessage): number {
  let tokens = TOKENS_PER_MESSAGE + countTextTokens(message.role);
  const { content } = message;
  if (typeof content === 'string') tokens += countTextTokens(content);
  else if (Array.isArray(content)) {
    for (const part of content as { text?: unknown }[]) {
      tokens += typeof part?.text === 'string' ? countTextTokens(part.text) : NON_TEXT_PART_TOKENS;
    }
  }
  if (typeof message.name === 'string') tokens += TOKENS_PER_NAME + countTextTokens(message.name);
  if (message.tool_calls !== undefined && message.tool_calls !== null) {
    tokens += countTextTokens(JSON.stringify(message.tool_calls));
  }
  if (typeof message.tool_call_id === 'string') tokens += countTextTokens(message.tool_call_id);
  return tokens;
}

export function countPromptTokens(messages: readonly CountableMessage[], tools?: unknown): number {
  let tokens = REPLY_PRIMING_TOKENS;
  for (const message of messages) tokens += countMessageTokens(message);
  if (tools !== undefined && tools !== null) tokens += countTextTokens(JSON.stringify(tools));
  return tokens;
}
