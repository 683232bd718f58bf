import { EventEmitter } from 'node:events';

/**
 * A one-shot abort for one chat request or one upstream call: what an AbortController is for, at a
 * twentieth of its cost. Every chat request makes three of them (the caller leaving, the upstream
 * stopped at the drain bound, each upstream call's own) and links two listeners; Node 20's
 * AbortController, its lazily made AbortSignal and EventTarget listeners came to about 8 µs and
 * 4 % of the gateway's CPU and allocations per request (BENCHMARKS.md, "Less JavaScript per chat
 * request").
 *
 * undici takes it as a request's `signal` (an EventEmitter with `aborted` and `reason`, as its
 * `api-request.js` reads one); the caller's reason is what the call then rejects with, as with an
 * AbortSignal. Listeners run synchronously, once, at the first `abort`.
 */
export class Abort extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;

  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
    this.removeAllListeners('abort');
  }
}

/** Calls `listener` once when `target` aborts (an Abort, or an AbortSignal where a timer needs one); returns its removal. */
export function onAbort(target: Abort | AbortSignal, listener: () => void): () => void {
  if (target instanceof Abort) {
    target.once('abort', listener);
    return () => target.off('abort', listener);
  }
  target.addEventListener('abort', listener, { once: true });
  return () => target.removeEventListener('abort', listener);
}
