import { describe, expect, it } from 'vitest';
import { instant } from '../../src/http/instant-schema.js';

describe('instant', () => {
  it('reads unix seconds (number or digits) and ISO 8601 dates and date-times, UTC when no offset is given', () => {
    expect(instant.parse(1764460800).toISOString()).toBe('2025-11-30T00:00:00.000Z');
    expect(instant.parse('1764460800').toISOString()).toBe('2025-11-30T00:00:00.000Z');
    expect(instant.parse('2026-11-30').toISOString()).toBe('2026-11-30T00:00:00.000Z');
    expect(instant.parse('2026-11-30T12:00:00Z').toISOString()).toBe('2026-11-30T12:00:00.000Z');
    expect(instant.parse('2026-11-30T12:00').toISOString()).toBe('2026-11-30T12:00:00.000Z');
    expect(instant.parse('2026-11-30T12:00:00+02:00').toISOString()).toBe('2026-11-30T10:00:00.000Z');
  });

  it('refuses anything else', () => {
    for (const bad of ['tomorrow', '2026-13-45', '2026-02-30', '2026-02-29T00:00:00Z', '30/11/2026', -1, 1.5, '', 1e15]) {
      expect(instant.safeParse(bad).success, String(bad)).toBe(false);
    }
  });
});
