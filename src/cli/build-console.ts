import { bundleIsStale, buildConsoleBundle, CONSOLE_BUNDLE } from '../console/bundle.js';

/**
 * Builds the console bundle (README "Console"). `--if-stale` skips an up-to-date bundle. Without
 * Vite (an install with --omit=dev) it keeps the bundle there is and says so: production images
 * build the bundle before pruning dev dependencies.
 */
const ifStale = process.argv.includes('--if-stale');
if (ifStale && !bundleIsStale()) process.exit(0);
try {
  await import('vite');
} catch {
  const message = `vite is not installed (npm install --omit=dev?): the console bundle in ${CONSOLE_BUNDLE} was not rebuilt`;
  if (bundleIsStale()) console.warn(`${message}, and it is missing or older than web/: the console answers 503 until it is built.`);
  else console.warn(message + '.');
  process.exit(0);
}
const t0 = performance.now();
await buildConsoleBundle();
console.log(`console bundle built into ${CONSOLE_BUNDLE} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
