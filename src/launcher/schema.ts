import type { Db } from '../db/connection.js';
import { migrateLatest } from '../db/connection.js';
import { migrationSource } from '../db/migrations/index.js';

/**
 * Development (`npm start`, one process) migrates at start. In production the `migrate` role runs
 * them once, before the api and worker roles start; those only check that the schema is current,
 * so that no two versions race to change it and no role runs on an old schema.
 */
export function schemaStep(config: { mode: string; database: { url?: string } }): 'migrate' | 'verify' {
  // A database the launcher embeds (no DATABASE_URL) has no other process to migrate it, and none
  // to race with: it is migrated at start in production too. Before, a fresh production start on
  // embedded defaults asked for the migrate role, which refuses without DATABASE_URL.
  return config.mode === 'production' && config.database.url ? 'verify' : 'migrate';
}

export async function prepareSchema(db: Db, how: 'migrate' | 'verify'): Promise<void> {
  if (how === 'migrate') return migrateLatest(db);
  const [, pending] = (await db.migrate.list({ migrationSource })) as [unknown, unknown[]];
  if (pending.length) {
    throw new SchemaBehind(`the database schema is ${pending.length} migration(s) behind this release: run the migrate role first (\`main.ts migrate\`, the compose \`migrate\` service)`);
  }
}

export class SchemaBehind extends Error {
  override readonly name = 'SchemaBehind';
}
