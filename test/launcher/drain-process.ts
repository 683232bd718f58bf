import pg from 'pg';
import pino from 'pino';
import { startEmbeddedPostgres } from '../../src/launcher/embedded-postgres.js';

/**
 * A process that runs an embedded server and, on SIGTERM, takes its time to drain: as the launcher
 * does (main.ts), it still uses the database, then stops the server, then exits. Prints what it did.
 */
const server = await startEmbeddedPostgres({ dir: process.argv[2]!, logger: pino({ level: 'silent' }) });
process.on('SIGTERM', () => {
  void (async () => {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    const { rows } = await client.query('SELECT 1 AS one');
    await client.end();
    console.log(`drained ${rows[0].one}`);
    await server.stop();
    process.exit(0);
  })();
});
console.log('ready');
setInterval(() => {}, 60_000);
