import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sseData } from '../../src/providers/chat/sse.js';

/**
 * An OpenAI-compatible chat server (bare node:http, the documented wire format) that answers as a
 * reasoning model does: some visible text, then a usage count that includes tokens nobody saw. A
 * test decides when it may finish (`release()`), so a caller can hang up at a chosen moment.
 */
export interface ScriptedUpstream {
  baseUrl: string;
  script: Script;
  /** Request bodies as the gateway sent them. */
  seen: Record<string, any>[];
  /** How each call ended on the upstream side: finished, or its connection closed before that. */
  endings: ('finished' | 'closed_early')[];
  /** Lets the current and later calls go past their gate. */
  release(): void;
  close(): Promise<void>;
}

export interface Script {
  promptTokens: number;
  /** Sent at once, before the gate. */
  visibleBeforeGate: string[];
  /** Sent once released. */
  visibleAfterGate: string[];
  /** Counted in `completion_tokens` but never sent as text. */
  reasoningTokens: number;
  /** Never finish (no usage, no [DONE]) after the gate: an upstream that stalls. */
  stall?: boolean;
}

export const defaultScript = (): Script => ({ promptTokens: 40, visibleBeforeGate: [], visibleAfterGate: ['Hello', ' there'], reasoningTokens: 600, stall: false });

export async function startScriptedUpstream(): Promise<ScriptedUpstream> {
  let open: () => void;
  let gate = new Promise<void>((resolve) => (open = resolve));
  const upstream = {
    script: defaultScript(),
    seen: [] as Record<string, any>[],
    endings: [] as ('finished' | 'closed_early')[],
    release: () => open(),
    reset() {
      upstream.script = defaultScript();
      upstream.seen.length = 0;
      upstream.endings.length = 0;
      gate = new Promise<void>((resolve) => (open = resolve));
    },
  };

  const server = http.createServer(async (req, res) => {
    let raw = '';
    for await (const part of req) raw += part;
    const body = JSON.parse(raw);
    upstream.seen.push(body);
    const s = upstream.script;
    let finished = false;
    res.on('close', () => upstream.endings.push(finished ? 'finished' : 'closed_early'));
    const completionTokens = s.visibleBeforeGate.length + s.visibleAfterGate.length + s.reasoningTokens;
    const usage = {
      prompt_tokens: s.promptTokens,
      completion_tokens: completionTokens,
      total_tokens: s.promptTokens + completionTokens,
      completion_tokens_details: { reasoning_tokens: s.reasoningTokens },
    };
    const base = { id: 'chatcmpl-scripted', created: 1_764_028_800, model: body.model };
    if (!body.stream) {
      await gate;
      if (s.stall || res.destroyed) return;
      const text = [...s.visibleBeforeGate, ...s.visibleAfterGate].join('');
      finished = true;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage }));
      return;
    }
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
      sseData({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }], usage: null });
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunk({ role: 'assistant', content: '' }) + s.visibleBeforeGate.map((t) => chunk({ content: t })).join(''));
    await gate;
    if (s.stall || res.destroyed) return;
    let tail = s.visibleAfterGate.map((t) => chunk({ content: t })).join('') + chunk({}, 'stop');
    if (body.stream_options?.include_usage) tail += sseData({ ...base, object: 'chat.completion.chunk', choices: [], usage });
    finished = true;
    res.end(tail + sseData('[DONE]'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(upstream, {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
