// The API role in a process of its own, so a test can kill it mid-request (SIGKILL: no cleanup).
import { loadConfig } from '../../src/config.js';
import { createServer } from '../../src/http/server.js';
import { createServices } from '../../src/services.js';

const config = loadConfig();
const services = await createServices(config, {
  databaseUrl: config.database.url!,
  temporalAddress: config.temporal.address!,
  adminToken: config.adminToken!,
});
createServer(services).listen(config.port, '127.0.0.1', () => process.stdout.write('api ready\n'));
