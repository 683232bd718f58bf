import { describe, expect, it } from 'vitest';
import { SseParser, sseData, type SseEvent } from '../../../src/providers/chat/sse.js';

async function collect(parts: (string | Uint8Array)[]): Promise<SseEvent[]> {
  const parser = new SseParser();
  const events: SseEvent[] = [];
  for (const part of parts) {
    events.push(...parser.push(typeof part === 'string' ? new TextEncoder().encode(part) : part));
    parser.refuseOverlong();
  }
  return [...events, ...parser.end()];
}

function oneBytePerChunk(text: string): Uint8Array[] {
  return Array.from(new TextEncoder().encode(text), (byte) => Uint8Array.of(byte));
}

describe('SseParser', () => {
  it('reads the events of an OpenAI stream, ending with [DONE]', async () => {
    const events = await collect([sseData({ a: 1 }) + sseData({ b: 2 }) + sseData('[DONE]')]);
    expect(events.map((e) => e.data)).toEqual(['{"a":1}', '{"b":2}', '[DONE]']);
  });

  it('gives the same events when every byte arrives in its own chunk, multi-byte characters included', async () => {
    const text = sseData({ content: 'héllo wörld 🙂 日本' }) + sseData({ content: '\u2028' }) + sseData('[DONE]');
    const whole = await collect([text]);
    const split = await collect(oneBytePerChunk(text));
    expect(split).toEqual(whole);
    expect(JSON.parse(split[0]!.data).content).toBe('héllo wörld 🙂 日本');
  });

  it('accepts CRLF and bare CR line endings, even with the CRLF split across chunks', async () => {
    const events = await collect(['data: one\r', '\n\r\ndata: two\r\rdata: three\n\n']);
    expect(events.map((e) => e.data)).toEqual(['one', 'two', 'three']);
  });

  it('ignores comments and unknown fields, joins multi-line data and keeps the event name', async () => {
    const events = await collect([': keep-alive\n\nid: 7\nevent: error\ndata: first\ndata:second\nretry: 10\n\n']);
    expect(events).toEqual([{ event: 'error', data: 'first\nsecond' }]);
  });

  it('dispatches a final event that lacks its blank line', async () => {
    const events = await collect(['data: {"x":1}\n\ndata: [DONE]']);
    expect(events.map((e) => e.data)).toEqual(['{"x":1}', '[DONE]']);
  });

  it('reads thousands of events packed into one chunk', async () => {
    const payloads = Array.from({ length: 5000 }, (_, i) => ({ i }));
    const events = await collect([payloads.map((p) => sseData(p)).join('')]);
    expect(events).toHaveLength(5000);
    expect(JSON.parse(events[4999]!.data)).toEqual({ i: 4999 });
  });
});
