import express from 'express';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createChatSandbox,
  type SandboxCall,
  type ChatSandboxOptions,
} from '../../src/sandboxes/chat/chat-sandbox.js';
import { sseData } from '../../src/providers/chat/sse.js';

/**
 * The chat tests' own upstream: the simulated OpenAI-compatible server, behind a few controls a
 * test sets to make it answer as it needs (fixed usage, a failure mode), and a record of what the
 * gateway sent and how each call ended upstream.
 */
export interface TestUpstream {
  baseUrl: string;
  /** Request bodies as the gateway sent them. */
  seen: Record<string, any>[];
  /** Completion calls as they ended on the upstream side. */
  finished: SandboxCall[];
  controls: {
    /** Answer every request with this usage (and that many words), whatever the prompt. */
    fixedUsage?: { prompt: number; completion: number };
    /** Send this model name to the simulator instead (e.g. `sim-error-503`). */
    model?: string;
    /** Wait this long before answering, so that concurrent requests overlap for sure. */
    delayMs?: number;
  };
  nextFinish(): Promise<SandboxCall>;
  reset(): void;
  close(): Promise<void>;
}

export async function startTestUpstream(options: ChatSandboxOptions = {}): Promise<TestUpstream> {
  const waiters: ((call: SandboxCall) => void)[] = [];
  const upstream: Omit<TestUpstream, 'baseUrl' | 'close'> = {
    seen: [],
    finished: [],
    controls: {},
    nextFinish: () => new Promise((resolve) => waiters.push(resolve)),
    reset() {
      upstream.seen.length = 0;
      upstream.finished.length = 0;
      delete upstream.controls.fixedUsage;
      delete upstream.controls.model;
      delete upstream.controls.delayMs;
    },
  };

  const app = express();
  app.use(express.json({ limit: '20mb' }));
  app.post('/v1/chat/completions', async (req, res, next) => {
    upstream.seen.push(structuredClone(req.body));
    if (upstream.controls.delayMs) await new Promise((resolve) => setTimeout(resolve, upstream.controls.delayMs));
    const fixed = upstream.controls.fixedUsage;
    if (upstream.controls.model) req.body.model = upstream.controls.model;
    if (!fixed) return next();
    const usage = { prompt_tokens: fixed.prompt, completion_tokens: fixed.completion, total_tokens: fixed.prompt + fixed.completion };
    const words = Array.from({ length: fixed.completion }, (_, i) => (i === 0 ? 'word' : ' word'));
    const base = { id: 'chatcmpl-fixed', created: 1_764_028_800, model: req.body.model };
    if (req.body.stream) {
      res.setHeader('content-type', 'text/event-stream');
      let body = '';
      for (const word of words) {
        body += sseData({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: word }, finish_reason: null }], usage: null });
      }
      body += sseData({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage: null });
      body += sseData({ ...base, object: 'chat.completion.chunk', choices: [], usage });
      res.end(body + sseData('[DONE]'));
    } else {
      res.json({
        ...base,
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: words.join('') }, finish_reason: 'stop' }],
        usage,
      });
    }
  });
  app.use(
    '/v1',
    createChatSandbox({
      ...options,
      onFinish: (call) => {
        upstream.finished.push(call);
        waiters.shift()?.(call);
      },
    }),
  );

  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    ...upstream,
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * A service whose UPSTREAM_BASE_URL is a test upstream of its own, for the tests of the enclosing
 * file or describe block. After each test the upstream forgets its controls and every ledger
 * invariant must hold.
 */
export function chatHarness(options: ChatSandboxOptions = {}, env: Record<string, string> = {}) {
  const ctx = {} as { h: Harness; upstream: TestUpstream };
  beforeAll(async () => {
    ctx.upstream = await startTestUpstream(options);
    ctx.h = await startHarness({ worker: false, env: { UPSTREAM_BASE_URL: ctx.upstream.baseUrl, ...env } });
  });
  afterAll(async () => {
    await ctx.h?.close();
    await ctx.upstream?.close();
  });
  afterEach(async () => {
    ctx.upstream.reset();
    await ctx.h.expectBooksBalanced();
  });
  return ctx;
}
