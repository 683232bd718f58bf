import type { Writable } from 'node:stream';
import { onAbort, type Abort } from './abort.js';
import { UpstreamProtocolError } from './errors.js';

// Server-sent events as OpenAI streams them: `data: <json>\n\n`, ending with `data: [DONE]`.
// Parsing follows the WHATWG event-stream rules so any compliant upstream works, whatever its
// line endings and however TCP splits its bytes.

export interface SseEvent {
  event: string;
  data: string;
}

export const SSE_DONE = '[DONE]';

// No OpenAI chunk comes near this; a stream that never sends a newline must not eat memory.
const MAX_PENDING_CHARS = 8 * 1024 * 1024;

export function sseData(payload: unknown): string {
  return `data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`;
}

export async function* readSseEvents(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let data: string[] = [];
  let event = '';

  function* takeLines(final: boolean): Generator<string> {
    let start = 0;
    // Positions are remembered between lines: rescanning for a CR that never comes would make a
    // large chunk of many lines quadratic.
    let cr = -2;
    let lf = -2;
    for (;;) {
      if (cr !== -1 && cr < start) cr = buffer.indexOf('\r', start);
      if (lf !== -1 && lf < start) lf = buffer.indexOf('\n', start);
      if (cr === -1 && lf === -1) break;
      const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
      // A CR at the very end may be the first half of a CRLF still in flight.
      if (end === cr && end === buffer.length - 1 && !final) break;
      yield buffer.slice(start, end);
      start = end + (end === cr && buffer[end + 1] === '\n' ? 2 : 1);
    }
    buffer = buffer.slice(start);
  }

  function dispatchable(line: string): SseEvent | undefined {
    if (line === '') {
      if (data.length === 0) {
        event = '';
        return undefined;
      }
      const ready = { event: event || 'message', data: data.join('\n') };
      data = [];
      event = '';
      return ready;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    return undefined;
  }

  for await (const chunk of chunks) {
    buffer += decoder.decode(chunk, { stream: true });
    for (const line of takeLines(false)) {
      const ready = dispatchable(line);
      if (ready) yield ready;
    }
    if (buffer.length > MAX_PENDING_CHARS) throw new UpstreamProtocolError('event stream line exceeds 8 MiB');
  }
  buffer += decoder.decode();
  for (const line of takeLines(true)) {
    const ready = dispatchable(line);
    if (ready) yield ready;
  }
  // The spec drops an event left unterminated at EOF; a trailing `data: [DONE]` without its blank
  // line is still worth honouring, so the remainder is dispatched.
  if (buffer !== '') dispatchable(buffer);
  if (data.length > 0) yield { event: event || 'message', data: data.join('\n') };
}

/**
 * Writes to a client that may read slowly: resolves at once while its buffer has room, otherwise
 * once it drains or once `gone` fires (a client that left will never drain).
 */
export async function writeWithBackpressure(out: Writable, data: string, gone: Abort | AbortSignal): Promise<void> {
  if (out.write(data)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      out.off('drain', done);
      stopListening();
      resolve();
    };
    out.on('drain', done);
    const stopListening = onAbort(gone, done);
  });
}
