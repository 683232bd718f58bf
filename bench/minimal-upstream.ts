import http from 'node:http';

/**
 * The cheapest OpenAI-compatible upstream there is: bare node:http, no framework, no tokenizer, a
 * fixed completion with usage (and, for `stream: true`, three content chunks, the usage chunk and
 * [DONE] in one write each). Against it the direct path measures the load generator and the
 * network stack only, so the gateway's own cost shows.
 */
const COMPLETION = {
  id: 'chatcmpl-minimal',
  object: 'chat.completion',
  created: 1_764_000_000,
  model: 'minimal',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the minimal upstream.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 20, completion_tokens: 8, total_tokens: 28 },
};
const BODY = JSON.stringify(COMPLETION);
const chunk = (delta: object, finish: string | null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-minimal', object: 'chat.completion.chunk', created: 1_764_000_000, model: 'minimal', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
const STREAM = [
  chunk({ role: 'assistant', content: 'Hello ' }, null),
  chunk({ content: 'from the minimal ' }, null),
  chunk({ content: 'upstream.' }, 'stop'),
  `data: ${JSON.stringify({ id: 'chatcmpl-minimal', object: 'chat.completion.chunk', created: 1_764_000_000, model: 'minimal', choices: [], usage: COMPLETION.usage })}\n\n`,
  'data: [DONE]\n\n',
].join('');

export function listenMinimalUpstream(): Promise<string> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      if (body.includes('"stream":true')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(STREAM);
      } else {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) });
        res.end(BODY);
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}/v1`)));
}
