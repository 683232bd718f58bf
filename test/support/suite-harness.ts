/**
 * The hooks every integration suite repeats around one harness: start it before the first test,
 * check after each test that the books balance (after resetting what the suite changed), close it
 * after the last. Hooks are registered where this is called: at the top of a file, or in a describe.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { Harness } from './harness.js';

export interface StartedSuite {
  h: Harness;
  stop?: () => Promise<void>;
}

export function useHarness(
  start: () => Promise<Harness | StartedSuite>,
  set: (h: Harness) => void,
  opts: { reset?: (h: Harness) => void | Promise<void> } = {},
): void {
  let suite: StartedSuite | undefined;
  beforeAll(async () => {
    const started = await start();
    suite = 'services' in started ? { h: started } : started;
    set(suite.h);
  });
  afterEach(async () => {
    if (!suite) return;
    await opts.reset?.(suite.h);
    await suite.h.expectBooksBalanced();
  });
  afterAll(async () => {
    if (!suite) return;
    await (suite.stop ? suite.stop() : suite.h.close());
  });
}
