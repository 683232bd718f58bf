import { defineConfig } from 'vitest/config';
import base from '../../../vitest.config.js';

// Re-records the generation histories the replay test checks (run on purpose, never by `npm test`):
//   npx vitest run --config test/workflows/histories/vitest.generations.config.ts
export default defineConfig({ test: { ...base.test, include: ['test/workflows/histories/record-generation-histories.ts'] } });
