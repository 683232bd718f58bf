import { describe, expect, inject, it } from 'vitest';
import { ensureSearchAttributes } from '../../src/temporal/namespace.js';

describe('registering search attributes on a configured cluster', () => {
  it('registers them where the server allows it', async () => {
    const outcome = await ensureSearchAttributes(inject('temporalAddress'), inject('temporalNamespace'));
    expect(outcome.ok).toBe(true);
  });

  it('logs a refusal and carries on instead of crashing the start', async () => {
    const warnings: unknown[] = [];
    const outcome = await ensureSearchAttributes({ address: inject('temporalAddress') }, 'no-such-namespace-for-cheapa', { warn: (o: unknown) => warnings.push(o) });
    expect(outcome.ok).toBe(false);
    expect(warnings).toHaveLength(1);
  });
});
