import { describe, expect, it } from 'vitest';
import { schemaStep } from '../../src/launcher/schema.js';

describe('schemaStep', () => {
  it('verifies a production DATABASE_URL, which the migrate role migrates', () => {
    expect(schemaStep({ mode: 'production', database: { url: 'postgres://db/cheapa' } })).toBe('verify');
  });

  it('migrates an embedded database in production, which has no migrate role to run', () => {
    expect(schemaStep({ mode: 'production', database: {} })).toBe('migrate');
  });

  it('migrates at start in development, embedded or not', () => {
    expect(schemaStep({ mode: 'development', database: {} })).toBe('migrate');
    expect(schemaStep({ mode: 'development', database: { url: 'postgres://db/cheapa' } })).toBe('migrate');
  });
});
