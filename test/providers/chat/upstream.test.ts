import express from 'express';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Abort } from '../../../src/providers/chat/abort.js';
import { UpstreamConnectionError, UpstreamError, UpstreamProtocolError } from '../../../src/providers/chat/errors.js';
import {
  createChatSandbox,
  listenChatSandbox,
  type SandboxCall,
  type ChatSandboxOptions,
} from '../../../src/sandboxes/chat/chat-sandbox.js';
import type { ChatCompletionChunk, ChatCompletionRequest } from '../../../src/providers/chat/types.js';
import { createChatUpstream } from '../../../src/providers/chat/upstream.js';

const messages = [{ role: 'user', content: 'Tell me about prepaid credit.' }];
const request = (model = 'sim-model', extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({
  model,
  messages,
  ...extra,
});

interface Recorded {
  body: Record<string, unknown>;
  headers: IncomingHttpHeaders;
}

/** The simulator behind a recorder, to see exactly what the adapter put on the wire. */
async function recordingUpstream(options: ChatSandboxOptions = {}) {
  const seen: Recorded[] = [];
  const finished: SandboxCall[] = [];
  const waiters: ((call: SandboxCall) => void)[] = [];
  const app = express();
  app.use(express.json());
  app.use((req, _res, next) => {
    seen.push({ body: req.body, headers: req.headers });
    next();
  });
  app.use(
    '/v1',
    createChatSandbox({
      ...options,
      onFinish: (call) => {
        finished.push(call);
        waiters.shift()?.(call);
      },
    }),
  );
  const server = await listen(app);
  return {
    seen,
    finished,
    server,
    baseUrl: `${url(server)}/v1`,
    /** Resolves when the next completion request ends on the upstream side. */
    nextFinish: () => new Promise<SandboxCall>((resolve) => waiters.push(resolve)),
    close: () => stop(server),
  };
}

async function listen(handler: Parameters<typeof createServer>[1]): Promise<Server> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return server;
}
const url = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const stop = (server: Server) =>
  new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

async function drain(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}
const textOf = (chunks: ChatCompletionChunk[]) => chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');

describe('chat upstream adapter against the simulated upstream', () => {
  let upstream: Awaited<ReturnType<typeof recordingUpstream>>;
  beforeAll(async () => {
    upstream = await recordingUpstream({ apiKey: 'sk-upstream-secret' });
  });
  afterAll(() => upstream.close());
  const adapter = () => createChatUpstream({ baseUrl: upstream.baseUrl, apiKey: 'sk-upstream-secret' });

  it('returns the parsed completion, passing the request through with the bearer key and request id', async () => {
    const completion = await adapter().complete(request('sim-model', { temperature: 0.2, max_tokens: 5 }), {
      requestId: 'req_123',
    });
    expect(completion).toMatchObject({ object: 'chat.completion', model: 'sim-model', usage: { completion_tokens: 5 } });
    const sent = upstream.seen.at(-1)!;
    expect(sent.body).toMatchObject({ model: 'sim-model', messages, temperature: 0.2, max_tokens: 5, stream: false });
    expect(sent.headers.authorization).toBe('Bearer sk-upstream-secret');
    expect(sent.headers['x-client-request-id']).toBe('req_123');
  });

  it('drops stream_options from a non-streamed call, which OpenAI would refuse', async () => {
    await adapter().complete(request('sim-model', { stream_options: { include_usage: true } }));
    expect(upstream.seen.at(-1)!.body).not.toHaveProperty('stream_options');
  });

  it('streams the same text and always asks for usage, keeping other stream options', async () => {
    const whole = await adapter().complete(request());
    const chunks = await drain(await adapter().stream(request('sim-model', { stream_options: { other: 1 } })));
    expect(upstream.seen.at(-1)!.body).toMatchObject({ stream: true, stream_options: { other: 1, include_usage: true } });
    expect(textOf(chunks)).toBe(whole.choices[0]!.message.content);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: whole.usage });
  });

  it('turns an upstream HTTP error into UpstreamError with status and OpenAI body, before any chunk', async () => {
    const failure = await adapter().complete(request('sim-error-503')).catch((e) => e);
    expect(failure).toBeInstanceOf(UpstreamError);
    expect(failure.status).toBe(503);
    expect(failure.body.error).toMatchObject({ type: 'server_error', code: 'simulated_error' });

    const streamFailure = await adapter().stream(request('sim-error-400')).catch((e) => e);
    expect(streamFailure).toBeInstanceOf(UpstreamError);
    expect(streamFailure.status).toBe(400);
  });

  it('reports a rejected key as a 401 UpstreamError', async () => {
    const wrong = createChatUpstream({ baseUrl: upstream.baseUrl, apiKey: 'sk-wrong' });
    await expect(wrong.complete(request())).rejects.toMatchObject({ name: 'UpstreamError', status: 401 });
  });

  it('reports a connection cut mid-stream as UpstreamConnectionError after the chunks that did arrive', async () => {
    const seen: ChatCompletionChunk[] = [];
    const failure = await (async () => {
      for await (const chunk of await adapter().stream(request('sim-disconnect-after-4'))) seen.push(chunk);
    })().catch((e) => e);
    expect(failure).toBeInstanceOf(UpstreamConnectionError);
    expect(seen.filter((c) => c.choices[0]?.delta.content).length).toBe(4);
    expect(seen.some((c) => c.usage)).toBe(false);
  });

  it('reports a connection cut without an answer as UpstreamConnectionError', async () => {
    await expect(adapter().complete(request('sim-disconnect-after-0'))).rejects.toBeInstanceOf(UpstreamConnectionError);
  });

  it('reports an error event inside a stream as UpstreamError, after the chunks before it', async () => {
    const seen: ChatCompletionChunk[] = [];
    const failure = await (async () => {
      for await (const chunk of await adapter().stream(request('sim-stream-error-after-2'))) seen.push(chunk);
    })().catch((e) => e);
    expect(failure).toBeInstanceOf(UpstreamError);
    expect(failure.body.error.code).toBe('simulated_error');
    expect(textOf(seen).length).toBeGreaterThan(0);
  });
});

describe('chat upstream adapter, cancelling', () => {
  it('aborting mid-stream closes the upstream connection and rejects with the abort reason', async () => {
    const upstream = await recordingUpstream({ tokenDelayMs: 5, replyLength: { min: 500, max: 500 } });
    try {
      const stop = new Abort();
      const reason = new Error('client went away');
      const finished = upstream.nextFinish();
      let content = 0;
      const failure = await (async () => {
        const stream = await createChatUpstream({ baseUrl: upstream.baseUrl }).stream(request(), {
          signal: stop,
        });
        for await (const chunk of stream) {
          if (chunk.choices[0]?.delta.content && ++content === 3) stop.abort(reason);
        }
      })().catch((e) => e);
      expect(failure).toBe(reason);
      const call = await finished;
      expect(call.outcome).toBe('client_closed');
      expect(call.completionTokens).toBeLessThan(500);
    } finally {
      await upstream.close();
    }
  });

  it('leaving the loop early closes the upstream connection', async () => {
    const upstream = await recordingUpstream({ tokenDelayMs: 5, replyLength: { min: 500, max: 500 } });
    try {
      const finished = upstream.nextFinish();
      const stream = await createChatUpstream({ baseUrl: upstream.baseUrl }).stream(request());
      for await (const chunk of stream) if (chunk.choices[0]?.delta.content) break;
      const call = await finished;
      expect(call.outcome).toBe('client_closed');
      expect(call.completionTokens).toBeLessThan(500);
    } finally {
      await upstream.close();
    }
  });

  it('sends the next call on the same connection once an answer or a stream after [DONE] is read', async () => {
    const upstream = await recordingUpstream();
    const server = upstream.server;
    let connections = 0;
    server.on('connection', () => connections++);
    try {
      const adapter = createChatUpstream({ baseUrl: upstream.baseUrl });
      // The pool takes a connection back a turn after its answer ends (undici), and a stream's after
      // the end of its body, read once [DONE] was handed on: the calls here come a little apart, as a
      // gateway's calls do (each answer is settled before its caller sends the next).
      const apart = () => new Promise((resolve) => setTimeout(resolve, 20));
      for (let i = 0; i < 3; i++) {
        await adapter.complete(request());
        await apart();
        expect(textOf(await drain(await adapter.stream(request())))).not.toBe('');
        await apart();
      }
      expect(upstream.seen).toHaveLength(6);
      expect(connections).toBe(1);
    } finally {
      await upstream.close();
    }
  });

  it('aborting before the upstream answers rejects with the reason and the upstream sees the close', async () => {
    const upstream = await recordingUpstream({ latencyMs: 60_000 });
    try {
      const stop = new Abort();
      const finished = upstream.nextFinish();
      const pending = createChatUpstream({ baseUrl: upstream.baseUrl }).complete(request(), {
        signal: stop,
      });
      const reason = new Error('stop');
      // Abort only once the request is on the upstream, so the test proves the connection is closed.
      while (upstream.seen.length === 0) await new Promise((resolve) => setImmediate(resolve));
      stop.abort(reason);
      await expect(pending).rejects.toBe(reason);
      expect((await finished).outcome).toBe('client_closed');
    } finally {
      await upstream.close();
    }
  });

  it('gives up on a silent upstream with UpstreamConnectionError', async () => {
    const upstream = await listenChatSandbox({ latencyMs: 60_000 });
    try {
      const impatient = createChatUpstream({ baseUrl: upstream.baseUrl, timeoutMs: 50 });
      await expect(impatient.complete(request())).rejects.toThrow(UpstreamConnectionError);
      await expect(impatient.stream(request())).rejects.toThrow(/silent for 50 ms/);
    } finally {
      await upstream.close();
    }
  });
});

describe('chat upstream adapter against other OpenAI-compatible servers', () => {
  it('reports a refused connection as UpstreamConnectionError', async () => {
    const server = await listen(() => {});
    const baseUrl = `${url(server)}/v1`;
    await stop(server);
    const failure = await createChatUpstream({ baseUrl }).complete(request()).catch((e) => e);
    expect(failure).toBeInstanceOf(UpstreamConnectionError);
    expect(failure.message).toMatch(/ECONNREFUSED/);
  });

  it('parses a stream sent in tiny TCP writes with CRLF line endings', async () => {
    const events = [
      { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'x', choices: [{ index: 0, delta: { content: 'Grüße ' }, finish_reason: null }] },
      { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'x', choices: [{ index: 0, delta: { content: '🙂' }, finish_reason: 'stop' }] },
      { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'x', choices: [], usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } },
    ];
    const wire = Buffer.from(`: hello\r\n\r\n${events.map((e) => `data: ${JSON.stringify(e)}\r\n\r\n`).join('')}data: [DONE]\r\n\r\n`);
    const server = await listen(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.socket?.setNoDelay(true);
      for (let i = 0; i < wire.length; i += 3) {
        res.write(wire.subarray(i, i + 3));
        await new Promise((resolve) => setImmediate(resolve));
      }
      res.end();
    });
    try {
      const chunks = await drain(await createChatUpstream({ baseUrl: url(server) }).stream(request()));
      expect(textOf(chunks)).toBe('Grüße 🙂');
      expect(chunks.at(-1)!.usage).toEqual({ prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 });
    } finally {
      await stop(server);
    }
  });

  it('hands the chunks on at [DONE] and keeps the connection for the next call once the body ends', async () => {
    const chunk = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'x', choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: 'stop' }] };
    let connections = 0;
    // Each body ends only when the test says so: a call that waited for the end would never return.
    const unended: (() => void)[] = [];
    const server = await listen((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify(chunk)}\n\ndata: [DONE]\n\n`);
      unended.push(() => res.end());
    });
    server.on('connection', () => connections++);
    try {
      const adapter = createChatUpstream({ baseUrl: url(server) });
      for (let i = 0; i < 3; i++) {
        expect(textOf(await drain(await adapter.stream(request())))).toBe('hi');
        unended.shift()!();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(connections).toBe(1);
    } finally {
      await stop(server);
    }
  });

  it('reports a stream that ends without [DONE] as UpstreamConnectionError', async () => {
    const server = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'x', choices: [] })}\n\n`);
    });
    try {
      const stream = await createChatUpstream({ baseUrl: url(server) }).stream(request());
      await expect(drain(stream)).rejects.toThrow(/before \[DONE\]/);
    } finally {
      await stop(server);
    }
  });

  it('honours a last [DONE] the body ends without its blank line, and refuses a line that never ends', async () => {
    const chunk = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'x', choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: 'stop' }] };
    const server = await listen((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (req.url?.includes('endless')) res.end(`data: ${'x'.repeat(9 * 1024 * 1024)}`);
      else res.end(`data: ${JSON.stringify(chunk)}\n\ndata: [DONE]`);
    });
    try {
      expect(textOf(await drain(await createChatUpstream({ baseUrl: url(server) }).stream(request())))).toBe('hi');
      const endless = await createChatUpstream({ baseUrl: `${url(server)}/endless` }).stream(request());
      await expect(drain(endless)).rejects.toThrow(/exceeds 8 MiB/);
    } finally {
      await stop(server);
    }
  });

  it('reports a 200 that is not a chat completion as UpstreamProtocolError', async () => {
    const server = await listen((req, res) => {
      res.writeHead(200, { 'content-type': req.headers.accept === 'text/event-stream' ? 'application/json' : 'text/html' });
      res.end(req.headers.accept === 'text/event-stream' ? '{"choices":[]}' : '<html>captive portal</html>');
    });
    try {
      const adapter = createChatUpstream({ baseUrl: url(server) });
      await expect(adapter.complete(request())).rejects.toBeInstanceOf(UpstreamProtocolError);
      await expect(adapter.stream(request())).rejects.toBeInstanceOf(UpstreamProtocolError);
    } finally {
      await stop(server);
    }
  });

  it('never repeats the upstream key that an error message echoes', async () => {
    const server = await listen((req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${req.headers.authorization?.slice(7)}`, type: 'invalid_request_error', code: 'invalid_api_key', param: null } }));
    });
    try {
      const failure = await createChatUpstream({ baseUrl: url(server), apiKey: 'sk-live-very-secret' })
        .complete(request())
        .catch((e) => e);
      expect(failure).toBeInstanceOf(UpstreamError);
      expect(failure.body.error.message).toBe('Incorrect API key provided: [redacted]');
      expect(failure.message).not.toContain('sk-live-very-secret');
    } finally {
      await stop(server);
    }
  });
});
