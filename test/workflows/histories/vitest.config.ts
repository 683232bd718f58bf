import { defineConfig } from 'vitest/config';

/**
 * `npm run record:histories`: runs the recorder (not a test) against the same real PostgreSQL and
 * Temporal dev server the suite uses, and rewrites the JSON histories beside this file.
 */
export default defineConfig({
  test: {
    include: ['test/workflows/histories/record-histories.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
