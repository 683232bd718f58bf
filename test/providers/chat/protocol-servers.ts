import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sseData } from '../../../src/providers/chat/sse.js';

/**
 * Local servers speaking the documented wire formats of OpenAI chat completions and Anthropic
 * Messages (bare node:http), each told by the test how to behave: answer, fail with a status, drop
 * the connection, stay silent, or start streaming and die.
 */
export type Behaviour =
  | { kind: 'answer' }
  | { kind: 'status'; status: number; retryAfter?: string; message?: string }
  | { kind: 'drop' }
  | { kind: 'silent' }
  | { kind: 'die_mid_stream' };

export interface ServerUsage {
  input: number;
  output: number;
  /** Prompt tokens read from the provider's cache (OpenAI: cached_tokens; Anthropic: cache_read). */
  cacheRead: number;
  /** Anthropic only: prompt tokens written to its cache. */
  cacheWrite: number;
}

export interface ProtocolServer {
  baseUrl: string;
  behaviour: Behaviour;
  usage: ServerUsage;
  /** Text of the answer. */
  text: string;
  /** Answer with this tool call instead of text (Anthropic: a tool_use block). */
  toolCall?: { id: string; name: string; input: Record<string, unknown> };
  /** Anthropic only: open the answer with a thinking block of this text (signed). */
  thinking?: string;
  seen: { headers: http.IncomingHttpHeaders; body: Record<string, any> }[];
  reset(): void;
  close(): Promise<void>;
}

type Handler = (server: ProtocolServer, body: Record<string, any>, res: http.ServerResponse) => void;

async function start(path: string, handle: Handler, baseSuffix: string): Promise<ProtocolServer> {
  const defaults = () => ({ behaviour: { kind: 'answer' } as Behaviour, usage: { input: 30, output: 12, cacheRead: 0, cacheWrite: 0 }, text: 'Hello from upstream', toolCall: undefined, thinking: undefined });
  const state = { ...defaults(), seen: [] as ProtocolServer['seen'] } as ProtocolServer;
  const server = http.createServer(async (req, res) => {
    let raw = '';
    for await (const part of req) raw += part;
    if (req.url !== path) {
      res.writeHead(404).end('{}');
      return;
    }
    const body = JSON.parse(raw);
    state.seen.push({ headers: req.headers, body });
    const b = state.behaviour;
    if (b.kind === 'drop') return void req.socket.destroy();
    if (b.kind === 'silent') return;
    if (b.kind === 'status') {
      res.writeHead(b.status, { 'content-type': 'application/json', ...(b.retryAfter ? { 'retry-after': b.retryAfter } : {}) });
      return void res.end(JSON.stringify({ error: { message: b.message ?? `provider-x failed for account acct_secret`, type: 'server_error', code: null } }));
    }
    handle(state, body, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(state, {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}${baseSuffix}`,
    reset() {
      Object.assign(state, defaults());
      state.seen.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

export function startOpenAiServer(): Promise<ProtocolServer> {
  return start('/v1/chat/completions', (s, body, res) => {
    const usage = {
      prompt_tokens: s.usage.input + s.usage.cacheRead,
      completion_tokens: s.usage.output,
      total_tokens: s.usage.input + s.usage.cacheRead + s.usage.output,
      prompt_tokens_details: { cached_tokens: s.usage.cacheRead },
    };
    const base = { id: 'chatcmpl-local', created: 1_764_028_800, model: body.model };
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: s.text }, finish_reason: 'stop' }], usage }));
      return;
    }
    const chunk = (delta: object, finish: string | null = null) => sseData({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] });
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const first = chunk({ role: 'assistant', content: '' }) + chunk({ content: s.text.slice(0, 5) });
    // Dies only once the first chunks are on the wire: output has started.
    if (s.behaviour.kind === 'die_mid_stream') return void res.write(first, () => res.socket?.destroy());
    res.write(first);
    res.end(chunk({ content: s.text.slice(5) }) + chunk({}, 'stop') + sseData({ ...base, object: 'chat.completion.chunk', choices: [], usage }) + sseData('[DONE]'));
  }, '/v1');
}

export function startAnthropicServer(): Promise<ProtocolServer> {
  return start('/v1/messages', (s, body, res) => {
    const usage = { input_tokens: s.usage.input, output_tokens: s.usage.output, cache_read_input_tokens: s.usage.cacheRead, cache_creation_input_tokens: s.usage.cacheWrite };
    const thought = s.thinking === undefined ? [] : [{ type: 'thinking', thinking: s.thinking, signature: 'sig-local' }];
    const content = [...thought, ...(s.toolCall ? [{ type: 'tool_use', ...s.toolCall }] : [{ type: 'text', text: s.text }])];
    const stopReason = s.toolCall ? 'tool_use' : 'end_turn';
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'msg_local', type: 'message', role: 'assistant', model: body.model, content, stop_reason: stopReason, stop_sequence: null, usage }));
      return;
    }
    const event = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let out = event('message_start', { message: { id: 'msg_local', type: 'message', role: 'assistant', model: body.model, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } } });
    out += event('ping', {});
    const index = thought.length;
    if (s.thinking !== undefined) {
      out += event('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } });
      out += event('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: s.thinking } });
      out += event('content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: 'sig-local' } });
      out += event('content_block_stop', { index: 0 });
    }
    if (s.toolCall) {
      const json = JSON.stringify(s.toolCall.input);
      out += event('content_block_start', { index, content_block: { type: 'tool_use', id: s.toolCall.id, name: s.toolCall.name, input: {} } });
      out += event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: json.slice(0, 4) } });
      out += event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: json.slice(4) } });
    } else {
      out += event('content_block_start', { index, content_block: { type: 'text', text: '' } });
      out += event('content_block_delta', { index, delta: { type: 'text_delta', text: s.text.slice(0, 5) } });
      out += event('content_block_delta', { index, delta: { type: 'text_delta', text: s.text.slice(5) } });
    }
    out += event('content_block_stop', { index });
    out += event('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: s.usage.output } });
    out += event('message_stop', {});
    res.end(out);
  }, '');
}
