/**
 * Keeps a sandbox's state in memory and snapshots it to a JSON file, so hosted checkouts, their
 * events and idempotency records survive a restart of `npm start`. Writes are coalesced (one write
 * per burst of changes) and atomic (temp file + rename): a crash loses at most the last moment of
 * sandbox activity, never the whole file.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const COALESCE_MS = 200;

export class JsonStateFile<T> {
  readonly state: T;
  private timer: NodeJS.Timeout | null = null;

  /** Without a path the state lives in memory only (tests). */
  constructor(private readonly path: string | undefined, initial: () => T) {
    this.state = path ? (readJson<T>(path) ?? initial()) : initial();
  }

  changed(): void {
    if (!this.path || this.timer) return;
    this.timer = setTimeout(() => this.flush(), COALESCE_MS);
    this.timer.unref();
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.path) return;
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state));
    renameSync(tmp, this.path);
  }
}

function readJson<T>(path: string): T | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return JSON.parse(text) as T;
}
