// Markers a prompt may carry to make the simulated Gemini misbehave on purpose (documented in ./README.md).
// Pure parsing; the simulator decides what each one looks like on the wire.

export type SandboxFailure =
  | { kind: 'safety' }
  | { kind: 'image-safety' }
  | { kind: 'refusal' }
  | { kind: 'error' }
  | { kind: 'http'; status: number };

export interface PromptTriggers {
  failure?: SandboxFailure;
  /** The first N calls carrying this exact prompt answer 503 UNAVAILABLE. */
  flaky: number;
  /** 'default' = the simulator's configured delay; 'slow' = its slow delay; a number = that many ms. */
  delay: 'default' | 'slow' | number;
}

const MAX_FLAKY = 10;
const MAX_DELAY_MS = 3_600_000;

export function parseTriggers(prompt: string): PromptTriggers {
  const triggers: PromptTriggers = { flaky: 0, delay: 'default' };
  for (const [, raw] of prompt.matchAll(/\[([a-z0-9:_-]{1,40})\]/gi)) {
    const token = raw.toLowerCase();
    const http = /^fail:http([45]\d\d)$/.exec(token);
    const flaky = /^flaky:(\d{1,2})$/.exec(token);
    const delay = /^delay:(\d{1,7})$/.exec(token);
    if (http) triggers.failure ??= { kind: 'http', status: Number(http[1]) };
    else if (token === 'fail:safety') triggers.failure ??= { kind: 'safety' };
    else if (token === 'fail:image-safety') triggers.failure ??= { kind: 'image-safety' };
    else if (token === 'fail:refusal') triggers.failure ??= { kind: 'refusal' };
    else if (token === 'fail:error') triggers.failure ??= { kind: 'error' };
    else if (flaky) triggers.flaky = Math.min(Number(flaky[1]), MAX_FLAKY);
    else if (token === 'slow') triggers.delay = 'slow';
    else if (delay) triggers.delay = Math.min(Number(delay[1]), MAX_DELAY_MS);
  }
  return triggers;
}
