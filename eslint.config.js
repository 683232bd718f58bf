// @ts-check
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

/**
 * Lint for the bugs the type checker lets through. Kept to what matters here:
 * - a promise nobody awaits (a lost write, an unhandled rejection) anywhere;
 * - workflow code that could not run deterministically in Temporal's sandbox: the samples' rule
 *   (no Node built-ins, no activity/client/worker SDK) plus no third-party package at all but the
 *   workflow SDK, and activities by type only.
 */
const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['node_modules/', '.data/', '.tools/', 'scratch/', 'tmp/'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Workflow code runs in a deterministic sandbox: no Node built-ins.' })),
          patterns: [
            {
              // Anything but the workflow SDK, @temporalio/common and relative paths.
              regex: '^(?!@temporalio/(workflow|common)(/|$)|\\.\\.?/)',
              message: 'Workflow code imports only @temporalio/workflow, @temporalio/common and pure project modules.',
            },
            {
              regex: '(^|/)activities(/|\\.js$)|-activities\\.js$|/payment-proof\\.js$',
              allowTypeImports: true,
              message: 'Activities run in the worker: import them as types and call them through proxyActivities.',
            },
          ],
        },
      ],
    },
  },
);
