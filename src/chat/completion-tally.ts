import type { ChatCompletion, ChatCompletionChunk, ChatUsage } from '../providers/chat/types.js';
import { countPromptTokens, countTextTokens, type CountableMessage } from './tokens.js';

export interface BillableUsage {
  promptTokens: number;
  completionTokens: number;
  /** Of promptTokens, read from the provider's prompt cache (its own report only). */
  cachedTokens?: number;
  /** Of promptTokens, written to the provider's prompt cache (its own report only). */
  cacheWriteTokens?: number;
  /** `upstream`: the upstream's own count; `estimated`: ours, because it stopped before reporting. */
  source: 'upstream' | 'estimated';
}

/**
 * What an upstream answer produced, chunk by chunk: its own usage when it reports one, and the text
 * it generated so that a stream cut short (client gone, upstream failed) can still be billed for
 * what was generated, and only that.
 */
export class CompletionTally {
  private generated = '';
  private reported: ChatUsage | undefined;

  addChunk(chunk: ChatCompletionChunk): void {
    if (isUsage(chunk.usage)) this.reported = chunk.usage;
    for (const choice of chunk.choices) this.addGenerated(choice.delta);
  }

  addCompletion(completion: ChatCompletion): void {
    if (isUsage(completion.usage)) this.reported = completion.usage;
    for (const choice of completion.choices) this.addGenerated(choice.message);
  }

  /** Whether the upstream produced anything billable; a failure before that costs nothing. */
  get produced(): boolean {
    return this.generated.length > 0 || (this.reported?.completion_tokens ?? 0) > 0;
  }

  get upstreamUsage(): ChatUsage | undefined {
    return this.reported;
  }

  /**
   * The usage to bill. Estimates use the o200k tokenizer; the completion estimate never exceeds
   * `completionLimit`, the most the upstream was allowed to generate.
   */
  usage(prompt: { messages: readonly CountableMessage[]; tools?: unknown }, completionLimit: number): BillableUsage {
    if (this.reported) {
      const details = this.reported.prompt_tokens_details as { cached_tokens?: unknown; cache_write_tokens?: unknown } | null | undefined;
      return {
        promptTokens: this.reported.prompt_tokens,
        completionTokens: this.reported.completion_tokens,
        ...(count(details?.cached_tokens) ? { cachedTokens: count(details?.cached_tokens) } : {}),
        ...(count(details?.cache_write_tokens) ? { cacheWriteTokens: count(details?.cache_write_tokens) } : {}),
        source: 'upstream',
      };
    }
    return {
      promptTokens: countPromptTokens(prompt.messages, prompt.tools),
      completionTokens: Math.min(this.generated === '' ? 0 : countTextTokens(this.generated), completionLimit),
      source: 'estimated',
    };
  }

  private addGenerated(part: Record<string, unknown> | undefined): void {
    if (!part) return;
    for (const field of ['content', 'refusal', 'reasoning_content', 'reasoning'] as const) {
      const value = part[field];
      if (typeof value === 'string') this.generated += value;
    }
    const calls = [...(Array.isArray(part.tool_calls) ? part.tool_calls : []), part.function_call];
    for (const call of calls as ({ name?: unknown; arguments?: unknown; function?: { name?: unknown; arguments?: unknown } } | undefined)[]) {
      const fn = call?.function ?? call;
      if (typeof fn?.name === 'string') this.generated += fn.name;
      if (typeof fn?.arguments === 'string') this.generated += fn.arguments;
    }
  }
}

/** A token count from the upstream, or 0 when it is missing or not a count. */
function count(value: unknown): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : 0;
}

function isUsage(value: unknown): value is ChatUsage {
  const usage = value as ChatUsage | null | undefined;
  return (
    !!usage &&
    Number.isSafeInteger(usage.prompt_tokens) &&
    usage.prompt_tokens >= 0 &&
    Number.isSafeInteger(usage.completion_tokens) &&
    usage.completion_tokens >= 0
  );
}
