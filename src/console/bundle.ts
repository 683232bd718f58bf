import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The console's browser code: sources in web/, built by Vite into dist/console/, which the API
 * serves. `npm install` builds it (the `prepare` script) and `npm start` rebuilds it when a source
 * is newer than the bundle (`prestart`), so a fresh clone needs no extra step.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CONSOLE_SOURCE = path.join(ROOT, 'web');
export const CONSOLE_BUNDLE = path.join(ROOT, 'dist', 'console');

function newestChange(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestChange(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

/** True when there is no bundle or a source changed after it was built. */
export function bundleIsStale(): boolean {
  const index = path.join(CONSOLE_BUNDLE, 'index.html');
  if (!fs.existsSync(index)) return true;
  return newestChange(CONSOLE_SOURCE) > fs.statSync(index).mtimeMs;
}

/** Builds the bundle with Vite (a devDependency: imported only here, never by the running API). */
export async function buildConsoleBundle(): Promise<void> {
  const { build } = await import('vite');
  await build({
    root: CONSOLE_SOURCE,
    configFile: false,
    logLevel: 'warn',
    build: { outDir: CONSOLE_BUNDLE, emptyOutDir: true, target: 'es2022', reportCompressedSize: false },
  });
}
