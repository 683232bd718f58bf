import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createDb, migrateLatest, type Db } from '../src/db/connection.js';
import { startEmbeddedPostgres } from '../src/launcher/embedded-postgres.js';

/** A throw-away embedded PostgreSQL (or DATABASE_URL) with the schema migrated, for benchmarks. */
export async function benchDatabase(poolMax: number): Promise<{ db: Db; url: string; stop(): Promise<void> }> {
  if (process.env.DATABASE_URL) {
    const db = createDb(process.env.DATABASE_URL, { poolMax });
    await migrateLatest(db);
    return { db, url: process.env.DATABASE_URL, stop: () => db.destroy() };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-bench-'));
  fs.chmodSync(dir, 0o755);
  const pg = await startEmbeddedPostgres({ dir: path.join(dir, 'postgres'), logger: pino({ level: 'warn' }) });
  const db = createDb(pg.url, { poolMax });
  await migrateLatest(db);
  return {
    db,
    url: pg.url,
    async stop() {
      await db.destroy();
      await pg.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
