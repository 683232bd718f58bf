import { createHash } from 'node:crypto';
import { countTextTokens } from '../../chat/tokens.js';
import type { ChatMessage, FinishReason } from '../../providers/chat/types.js';

// The simulated upstream's "model": a reply that depends only on the request, counted with the same
// real tokenizer as its prompts (see chat/tokens.ts), so billing downstream is exercised with
// realistic numbers rather than string lengths.

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

export interface SandboxReply {
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
export function sandboxReply(
  model: string,
  messages: readonly ChatMessage[],
  choice: number,
  maxTokens: number | undefined,
  length: ReplyLength = DEFAULT_REPLY_LENGTH,
): SandboxReply {
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

/** A function call the simulator makes instead of answering, when the caller's `tool_choice` demands one. */
export interface SandboxToolCall {
  callId: string;
  name: string;
  /** JSON: every property of the tool's parameters, set to "lorem". */
  arguments: string;
  tokens: number;
}

interface ToolLike {
  name?: unknown;
  parameters?: unknown;
  function?: { name?: unknown; parameters?: unknown };
}

/**
 * `tool_choice: "required"` calls the first tool, `{type: "function", name}` (or chat's
 * `{function: {name}}`) the one named; anything else answers with text. Deterministic, like the text.
 */
export function sandboxToolCall(tools: unknown, toolChoice: unknown, seed: string): SandboxToolCall | undefined {
  if (!Array.isArray(tools) || tools.length === 0) return undefined;
  const list = tools as ToolLike[];
  const choice = toolChoice as { name?: unknown; function?: { name?: unknown } } | string | null | undefined;
  let wanted: ToolLike | undefined;
  if (choice === 'required') wanted = list[0];
  else if (choice && typeof choice === 'object') {
    const name = choice.name ?? choice.function?.name;
    wanted = list.find((t) => (t.name ?? t.function?.name) === name);
  }
  if (!wanted) return undefined;
  const name = String(wanted.name ?? wanted.function?.name);
  const parameters = (wanted.parameters ?? wanted.function?.parameters) as { properties?: Record<string, unknown> } | undefined;
  const args = JSON.stringify(Object.fromEntries(Object.keys(parameters?.properties ?? {}).map((key) => [key, 'lorem'])));
  const callId = `call_${createHash('sha256').update(seed).digest('hex').slice(0, 24)}`;
  return { callId, name, arguments: args, tokens: countTextTokens(name) + countTextTokens(args) };
}
