import fs from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';

/** The Chromium that .ci/run installs from Debian's packages (CHROMIUM_PATH overrides). */
const CHROMIUM = process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));

export function launchChromium(): Promise<Browser> {
  if (!CHROMIUM) throw new Error("Chromium not found: install Debian's chromium package (.ci/run does) or set CHROMIUM_PATH");
  return puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}
