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

/**
 * Server-sent events parsed as bytes arrive: `push` each read and take the events it completed,
 * `end` once the bytes end. Synchronous, so a reader handles all the events of one read in one
 * turn (the chat stream's read loop, upstream.ts, calls it directly).
 */
export class SseParser {
  private readonly decoder = new TextDecoder('utf-8');
  private buffer = '';
  private data: string[] = [];
  private event = '';

  push(bytes: Uint8Array): SseEvent[] {
    this.buffer += this.decoder.decode(bytes, { stream: true });
    return this.takeLines(false);
  }

  /** The rest, once the bytes ended. */
  end(): SseEvent[] {
    this.buffer += this.decoder.decode();
    const events = this.takeLines(true);
    // The spec drops an event left unterminated at EOF; a trailing `data: [DONE]` without its blank
    // line is still worth honouring, so the remainder is dispatched.
    if (this.buffer !== '') this.dispatchable(this.buffer);
    if (this.data.length > 0) events.push({ event: this.event || 'message', data: this.data.join('\n') });
    return events;
  }

  /** A line that never ends must not eat memory: the reader calls this after each read's events. */
  refuseOverlong(): void {
    if (this.buffer.length > MAX_PENDING_CHARS) throw new UpstreamProtocolError('event stream line exceeds 8 MiB');
  }

  private takeLines(final: boolean): SseEvent[] {
    const events: SseEvent[] = [];
    const buffer = this.buffer;
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
      const ready = this.dispatchable(buffer.slice(start, end));
      if (ready) events.push(ready);
      start = end + (end === cr && buffer[end + 1] === '\n' ? 2 : 1);
    }
    this.buffer = buffer.slice(start);
    return events;
  }

  private dispatchable(line: string): SseEvent | undefined {
    if (line === '') {
      if (this.data.length === 0) {
        this.event = '';
        return undefined;
      }
      const ready = { event: this.event || 'message', data: this.data.join('\n') };
      this.data = [];
      this.event = '';
      return ready;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    return undefined;
  }
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
