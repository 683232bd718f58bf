// A Temporal worker in a process of its own, so a test can kill it mid-generation (SIGKILL: no cleanup).
import { loadConfig } from '../../src/config.js';
import { createServices } from '../../src/services.js';
import { startWorker } from '../../src/temporal/worker.js';

const config = loadConfig();
const services = await createServices(config, {
  databaseUrl: config.database.url!,
  temporalAddress: config.temporal.address!,
  adminToken: config.adminToken!,
});
await startWorker(services);
process.stdout.write('worker ready\n');
