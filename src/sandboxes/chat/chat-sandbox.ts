import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import { chatCompletionRequestSchema, type ValidChatCompletionRequest } from '../../providers/chat/request-schema.js';
import { answerEmbeddingsSandbox } from './embeddings-sandbox.js';
import { answerResponsesSandbox } from './responses-sandbox.js';
import { sseData, SSE_DONE, writeWithBackpressure } from '../../providers/chat/sse.js';
import { countPromptTokens } from '../../chat/tokens.js';
import {
  DEFAULT_REPLY_LENGTH,
  sandboxReply,
  sandboxToolCall,
  type ReplyLength,
  type SandboxReply,
  type SandboxToolCall,
} from './sandbox-reply.js';
import type { ChatCompletion, ChatCompletionChunk, ChatUsage, OpenAIErrorBody } from '../../providers/chat/types.js';

/**
 * A local OpenAI-compatible chat server: what `npm start` talks to when no `UPSTREAM_BASE_URL` is
 * set, and the upstream of the tests. Any model name is accepted and answered with deterministic
 * text; these names make it misbehave instead:
 *
 * - `sim-error-<status>` (400–599): answers that HTTP status with an OpenAI error body, nothing generated.
 * - `sim-disconnect-after-<n>`: streams `n` tokens, then cuts the connection (no usage, no `[DONE]`);
 *   without streaming, cuts the connection without an answer.
 * - `sim-stream-error-after-<n>`: streams `n` tokens, then an in-stream `{"error":…}` event, and ends;
 *   without streaming, answers 500.
 * - `sim-no-usage`: never reports `usage`, like servers that ignore `stream_options`.
 */
export interface ChatSandboxOptions {
  /** Delay before the first byte of every answer. */
  latencyMs?: number;
  /** Delay per generated token: between stream chunks, or added up before a non-streamed answer. */
  tokenDelayMs?: number;
  /** Natural reply length range, in tokens, before any `max_tokens` cut. */
  replyLength?: ReplyLength;
  /** Names listed by `GET /models` (any name is accepted by `POST /chat/completions`). */
  models?: string[];
  /** When set, requests must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Called once per completion request when it ends, however it ends. */
  onFinish?: (call: SandboxCall) => void;
}

export interface SandboxCall {
  model: string;
  stream: boolean;
  promptTokens: number;
  /** Tokens actually sent to the client. */
  completionTokens: number;
  outcome: 'completed' | 'client_closed' | 'failed';
}

type Behaviour =
  | { kind: 'normal' }
  | { kind: 'error'; status: number }
  | { kind: 'disconnect'; after: number }
  | { kind: 'stream_error'; after: number }
  | { kind: 'no_usage' };

function behaviourOf(model: string): Behaviour {
  let match = /^sim-error-(\d{3})$/.exec(model);
  if (match && Number(match[1]) >= 400 && Number(match[1]) <= 599) return { kind: 'error', status: Number(match[1]) };
  match = /^sim-disconnect-after-(\d+)$/.exec(model);
  if (match) return { kind: 'disconnect', after: Number(match[1]) };
  match = /^sim-stream-error-after-(\d+)$/.exec(model);
  if (match) return { kind: 'stream_error', after: Number(match[1]) };
  if (model === 'sim-no-usage') return { kind: 'no_usage' };
  return { kind: 'normal' };
}

type SandboxRequest = ValidChatCompletionRequest;

function errorBody(message: string, type: string, code: string | null, param: string | null): OpenAIErrorBody {
  return { error: { message, type, code, param } };
}

function paramName(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`)).join('');
}

function invalidRequest(error: z.ZodError): OpenAIErrorBody {
  const issue = error.issues[0]!;
  const param = paramName(issue.path);
  const message =
    issue.code === 'invalid_type' && issue.input === undefined
      ? `Missing required parameter: '${param}'.`
      : issue.code === 'custom'
        ? issue.message
        : `Invalid value for '${param}': ${issue.message}`;
  return errorBody(message, 'invalid_request_error', issue.code === 'invalid_type' ? 'invalid_type' : 'invalid_value', param);
}

function usageOf(promptTokens: number, completionTokens: number): ChatUsage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

export function createChatSandbox(options: ChatSandboxOptions = {}): Router {
  const latencyMs = options.latencyMs ?? 0;
  const tokenDelayMs = options.tokenDelayMs ?? 0;
  const replyLength = options.replyLength ?? DEFAULT_REPLY_LENGTH;
  const models = options.models ?? ['cheapa-sim'];
  const router = express.Router();

  router.use(express.json({ limit: '10mb' }));

  router.use((req, res, next) => {
    if (options.apiKey && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      res
        .status(401)
        .json(errorBody('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key', null));
      return;
    }
    next();
  });

  router.get('/models', (_req, res) => {
    res.json({
      object: 'list',
      data: models.map((id) => ({ id, object: 'model', created: 1_764_028_800, owned_by: 'cheapa-simulator' })),
    });
  });

  router.post('/chat/completions', async (req, res) => {
    const parsed = chatCompletionRequestSchema.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json(invalidRequest(parsed.error));
      return;
    }
    const body = parsed.data;
    const behaviour = behaviourOf(body.model);
    const stream = body.stream === true;
    const promptTokens = countPromptTokens(body.messages, body.tools);
    const call: SandboxCall = { model: body.model, stream, promptTokens, completionTokens: 0, outcome: 'failed' };
    let outcome: SandboxCall['outcome'] = 'failed';

    const clientGone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) clientGone.abort();
    });

    try {
      await pause(latencyMs, clientGone.signal);
      if (behaviour.kind === 'error') {
        res
          .status(behaviour.status)
          .json(errorBody(`Simulated upstream failure (HTTP ${behaviour.status}).`, behaviour.status >= 500 ? 'server_error' : 'invalid_request_error', 'simulated_error', null));
        return;
      }
      const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? undefined;
      const replies = Array.from({ length: body.n ?? 1 }, (_, choice) =>
        sandboxReply(body.model, body.messages, choice, maxTokens, replyLength),
      );
      outcome = stream
        ? await streamReplies({ res, body, replies, behaviour, call, clientGone: clientGone.signal, tokenDelayMs })
        : await answerReplies({ res, body, replies, behaviour, call, clientGone: clientGone.signal, tokenDelayMs });
    } catch (error) {
      if (!clientGone.signal.aborted) throw error;
      outcome = 'client_closed';
    } finally {
      call.outcome = outcome;
      options.onFinish?.(call);
    }
  });

  router.post('/embeddings', answerEmbeddingsSandbox);
  router.post('/responses', answerResponsesSandbox);

  // Body-parser failures (bad JSON, too large) arrive here; answer them the way OpenAI does.
  router.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    const status = (error as { status?: number }).status;
    if (status !== undefined && status >= 400 && status < 500) {
      res.status(status).json(errorBody(`Could not parse the request body: ${(error as Error).message}`, 'invalid_request_error', null, null));
      return;
    }
    res.status(500).json(errorBody('The simulated upstream failed.', 'server_error', null, null));
  });

  return router;
}

/** One request being answered. */
interface Answer {
  res: Response;
  body: SandboxRequest;
  replies: SandboxReply[];
  behaviour: Behaviour;
  call: SandboxCall;
  clientGone: AbortSignal;
  tokenDelayMs: number;
}

async function answerReplies({ res, body, replies, behaviour, call, clientGone, tokenDelayMs }: Answer): Promise<SandboxCall['outcome']> {
  const completionTokens = replies.reduce((sum, reply) => sum + reply.tokens.length, 0);
  if (behaviour.kind === 'disconnect') {
    res.socket?.destroy();
    return 'failed';
  }
  if (behaviour.kind === 'stream_error') {
    res.status(500).json(errorBody('Simulated upstream failure.', 'server_error', 'simulated_error', null));
    return 'failed';
  }
  const toolCall = sandboxToolCall(body.tools, body.tool_choice, JSON.stringify(body.messages));
  if (toolCall) return answerToolCall({ res, body, replies, behaviour, call, clientGone, tokenDelayMs }, toolCall);
  await pause(tokenDelayMs * completionTokens, clientGone);
  const completion: ChatCompletion = {
    id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: body.model,
    choices: replies.map((reply, index) => ({
      index,
      message: { role: 'assistant', content: reply.tokens.join(''), refusal: null },
      logprobs: null,
      finish_reason: reply.finishReason,
    })),
    system_fingerprint: 'fp_cheapa_sim',
  };
  if (behaviour.kind !== 'no_usage') completion.usage = usageOf(call.promptTokens, completionTokens);
  res.json(completion);
  call.completionTokens = completionTokens;
  return 'completed';
}

/** `tool_choice` demanded a call: one function call instead of text. */
function answerToolCall({ res, body, behaviour, call }: Answer, toolCall: SandboxToolCall): SandboxCall['outcome'] {
  const completion: ChatCompletion = {
    id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: body.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: null, refusal: null, tool_calls: [{ id: toolCall.callId, type: 'function', function: { name: toolCall.name, arguments: toolCall.arguments } }] },
        logprobs: null,
        finish_reason: 'tool_calls',
      },
    ],
    system_fingerprint: 'fp_cheapa_sim',
  };
  if (behaviour.kind !== 'no_usage') completion.usage = usageOf(call.promptTokens, toolCall.tokens);
  res.json(completion);
  call.completionTokens = toolCall.tokens;
  return 'completed';
}

async function streamReplies({ res, body, replies, behaviour, call, clientGone, tokenDelayMs }: Answer): Promise<SandboxCall['outcome']> {
  const includeUsage = body.stream_options?.include_usage === true && behaviour.kind !== 'no_usage';
  const base = {
    id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
    object: 'chat.completion.chunk' as const,
    created: Math.floor(Date.now() / 1000),
    model: body.model,
    system_fingerprint: 'fp_cheapa_sim',
  };
  const chunk = (choices: ChatCompletionChunk['choices']): ChatCompletionChunk =>
    includeUsage ? { ...base, choices, usage: null } : { ...base, choices };
  const out = new BufferedWriter(res, clientGone);
  const cutAfter = behaviour.kind === 'disconnect' || behaviour.kind === 'stream_error' ? behaviour.after : Infinity;

  res.status(200).set({ 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  res.flushHeaders();

  const toolCall = sandboxToolCall(body.tools, body.tool_choice, JSON.stringify(body.messages));
  if (toolCall) {
    const fn = { id: toolCall.callId, type: 'function', function: { name: toolCall.name, arguments: '' } };
    out.push(chunk([{ index: 0, delta: { role: 'assistant', content: null, tool_calls: [{ index: 0, ...fn }] }, logprobs: null, finish_reason: null }]));
    out.push(chunk([{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: toolCall.arguments } }] }, logprobs: null, finish_reason: null }]));
    out.push(chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: 'tool_calls' }]));
    call.completionTokens = toolCall.tokens;
    if (includeUsage) out.push({ ...base, choices: [], usage: usageOf(call.promptTokens, call.completionTokens) });
    out.push(SSE_DONE);
    await out.flush();
    res.end();
    return clientGone.aborted ? 'client_closed' : 'completed';
  }

  for (const [index, reply] of replies.entries()) {
    out.push(chunk([{ index, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }]));
    for (const token of reply.tokens) {
      if (call.completionTokens === cutAfter) return cut(res, out, behaviour);
      out.push(chunk([{ index, delta: { content: token }, logprobs: null, finish_reason: null }]));
      call.completionTokens += 1;
      if (tokenDelayMs > 0) {
        await out.flush();
        await sleep(tokenDelayMs, undefined, { signal: clientGone });
      }
    }
    out.push(chunk([{ index, delta: {}, logprobs: null, finish_reason: reply.finishReason }]));
  }
  if (call.completionTokens === cutAfter) return cut(res, out, behaviour);
  if (includeUsage) out.push({ ...base, choices: [], usage: usageOf(call.promptTokens, call.completionTokens) });
  out.push(SSE_DONE);
  await out.flush();
  res.end();
  return clientGone.aborted ? 'client_closed' : 'completed';
}

async function cut(res: Response, out: BufferedWriter, behaviour: Behaviour): Promise<SandboxCall['outcome']> {
  if (behaviour.kind === 'stream_error') {
    out.push(errorBody('Simulated failure in the middle of the stream.', 'server_error', 'simulated_error', null));
    await out.flush();
    res.end();
  } else {
    // Only once the bytes have left: destroying first would drop what was already generated.
    await out.flush({ untilWritten: true });
    res.socket?.destroy();
  }
  return 'failed';
}

/** A timer costs a millisecond or more even at 0 ms: a zero-latency simulator must not take one. */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms > 0) await sleep(ms, undefined, { signal });
}

/** Coalesces SSE events into one write per flush and respects the client's back-pressure. */
class BufferedWriter {
  private pending = '';

  constructor(
    private readonly res: Response,
    private readonly clientGone: AbortSignal,
  ) {}

  push(payload: unknown): void {
    this.pending += sseData(payload);
  }

  async flush({ untilWritten = false } = {}): Promise<void> {
    if (this.pending === '' || this.clientGone.aborted) return;
    const data = this.pending;
    this.pending = '';
    if (untilWritten) {
      await new Promise<void>((resolve) => this.res.write(data, () => resolve()));
      return;
    }
    await writeWithBackpressure(this.res, data, this.clientGone);
  }
}

export interface ListeningChatSandbox {
  /** API root to hand to the adapter, e.g. `http://127.0.0.1:PORT/v1`. */
  baseUrl: string;
  port: number;
  close(): Promise<void>;
}

/** Runs the simulator standalone on 127.0.0.1 (port 0 picks a free one), mounted at `/v1`. */
export async function listenChatSandbox(
  options: ChatSandboxOptions & { port?: number } = {},
): Promise<ListeningChatSandbox> {
  const app = express();
  app.disable('x-powered-by');
  app.use('/v1', createChatSandbox(options));
  app.use((_req, res) => {
    res.status(404).json(errorBody('Unknown path.', 'invalid_request_error', 'unknown_url', null));
  });
  const server = app.listen(options.port ?? 0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
