import { defineConfig } from 'vitest/config';

/**
 * `npm run docs:screenshots`: drives the console in Chromium against the suite's real PostgreSQL
 * and Temporal (not a test) and writes docs/console/*.png at laptop and phone widths.
 */
export default defineConfig({
  test: {
    include: ['test/console/screenshots/take-screenshots.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
