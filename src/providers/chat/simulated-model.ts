import { createHash } from 'node:crypto';
import { encode } from 'gpt-tokenizer';
import type { ChatMessage, FinishReason } from './types.js';

// The simulated upstream's "model": a reply that depends only on the request, and token counts from
// a real tokenizer (o200k_base, the GPT-4o/GPT-5 encoding) so billing downstream is exercised with
// realistic numbers rather than string lengths.

/** Special-token strings in user text are counted as the text they are, as OpenAI does. */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

// OpenAI's published accounting for chat prompts: every message is wrapped in 3 tokens, a name adds
// 1, and the reply is primed with 3 more.
export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_NAME = 1;
export const REPLY_PRIMING_TOKENS = 3;
/** A non-text content part (image, audio, file) is counted as a low-detail image. */
export const NON_TEXT_PART_TOKENS = 85;

export function countTextTokens(text: string): number {
  return encode(text, PLAIN_TEXT).length;
}

export function countMessageTokens(message: ChatMessage): number {
  let tokens = TOKENS_PER_MESSAGE + countTextTokens(message.role);
  const { content } = message;
  if (typeof content === 'string') tokens += countTextTokens(content);
  else if (Array.isArray(content)) {
    for (const part of content) {
      tokens += typeof part.text === 'string' ? countTextTokens(part.text) : NON_TEXT_PART_TOKENS;
    }
  }
  if (typeof message.name === 'string') tokens += TOKENS_PER_NAME + countTextTokens(message.name);
  if (message.tool_calls !== undefined) tokens += countTextTokens(JSON.stringify(message.tool_calls));
  if (typeof message.tool_call_id === 'string') tokens += countTextTokens(message.tool_call_id);
  return tokens;
}

export function countPromptTokens(messages: readonly ChatMessage[], tools?: unknown): number {
  let tokens = REPLY_PRIMING_TOKENS;
  for (const message of messages) tokens += countMessageTokens(message);
  if (tools !== undefined && tools !== null) tokens += countTextTokens(JSON.stringify(tools));
  return tokens;
}

// Words that are one o200k token each, both alone and after a space, so a reply of N words, spaces
// and full stops is exactly N tokens when tokenized again.
const WORDS = (
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore ' +
  'et dolore magna aliqua enim ad minim veniam quis exercitation laboris nisi ex ea commodo consequat ' +
  'in voluptate velit esse fugiat nulla pariatur sint non sunt culpa qui officia deserunt anim id est ' +
  'laborum the quick brown fox jumps over lazy dog cheap credit token model ledger balance hold ' +
  'capture release stream answer'
)
  .split(' ')
  .filter((word) => countTextTokens(` ${word}`) === 1);
const CAPITALIZED = WORDS.map((word) => word[0]!.toUpperCase() + word.slice(1)).filter(
  (word) => countTextTokens(word) === 1 && countTextTokens(` ${word}`) === 1,
);

export interface SimulatedReply {
  /** One entry per generated token; the reply text is their concatenation. */
  tokens: string[];
  finishReason: FinishReason;
}

export interface ReplyLength {
  min: number;
  max: number;
}

export const DEFAULT_REPLY_LENGTH: ReplyLength = { min: 12, max: 64 };

/**
 * The reply the simulator gives: its natural length (between `length.min` and `length.max` tokens)
 * comes from a hash of the request, and `maxTokens` cuts it short with `finish_reason: "length"`,
 * exactly as a real model stops at the limit.
 */
export function simulateReply(
  model: string,
  messages: readonly ChatMessage[],
  choice: number,
  maxTokens: number | undefined,
  length: ReplyLength = DEFAULT_REPLY_LENGTH,
): SimulatedReply {
  const digest = createHash('sha256').update(JSON.stringify([model, messages, choice])).digest();
  const random = mulberry32(digest.readUInt32LE(0));
  const natural = length.min + (digest.readUInt32LE(4) % (length.max - length.min + 1));
  const count = maxTokens === undefined ? natural : Math.min(natural, maxTokens);

  const tokens: string[] = [];
  let sentenceLeft = 0;
  while (tokens.length < count) {
    if (sentenceLeft === 0) {
      const word = pick(CAPITALIZED, random);
      tokens.push(tokens.length === 0 ? word : ` ${word}`);
      sentenceLeft = 3 + Math.floor(random() * 10);
    } else if (sentenceLeft === 1) {
      tokens.push('.');
      sentenceLeft = 0;
    } else {
      tokens.push(` ${pick(WORDS, random)}`);
      sentenceLeft -= 1;
    }
  }
  return { tokens, finishReason: count < natural ? 'length' : 'stop' };
}

function pick(words: readonly string[], random: () => number): string {
  return words[Math.floor(random() * words.length)]!;
}

/** A small seeded PRNG: the same request always yields the same words. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
