import type { Db } from '../db/connection.js';
import { migrateLatest } from '../db/connection.js';
import { migrationSource } from '../db/migrations/index.js';

/**
 * Development (`npm start`, one process) migrates at start. In production the `migrate` role runs
 * them once, before the api and worker roles start; those only check that the schema is current,
 * so that no two versions race to change it and no role runs on an old schema.
 */
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
