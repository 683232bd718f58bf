import { describe, expect, it } from 'vitest';
import { Abort, onAbort } from '../../../src/providers/chat/abort.js';

describe('Abort', () => {
  it('runs its listeners once, at the first abort, and keeps the first reason', () => {
    const abort = new Abort();
    const heard: unknown[] = [];
    abort.once('abort', () => heard.push(abort.reason));
    abort.on('abort', () => heard.push('on'));
    const first = new Error('first');
    abort.abort(first);
    abort.abort(new Error('second'));
    expect(heard).toEqual([first, 'on']);
    expect(abort.aborted).toBe(true);
    expect(abort.reason).toBe(first);
    expect(abort.listenerCount('abort')).toBe(0);
  });

  it.each([
    ['an Abort', () => { const a = new Abort(); return { target: a, fire: () => a.abort() }; }],
    ['an AbortSignal', () => { const c = new AbortController(); return { target: c.signal, fire: () => c.abort() }; }],
  ])('onAbort hears %s once, and not after its removal', (_, make) => {
    const heard = make();
    let calls = 0;
    onAbort(heard.target, () => calls++);
    heard.fire();
    heard.fire();
    expect(calls).toBe(1);

    const removed = make();
    const stop = onAbort(removed.target, () => calls++);
    stop();
    removed.fire();
    expect(calls).toBe(1);
  });
});
