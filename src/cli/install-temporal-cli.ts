import pino from 'pino';
import { TOOLS_DIR } from '../launcher/stack.js';
import { resolveTemporalCli } from '../launcher/temporal-cli.js';

// Installs (or finds) the Temporal CLI ahead of time, so CI fails early and clearly if it cannot.
const cli = resolveTemporalCli({ configured: process.env.TEMPORAL_CLI, toolsDir: TOOLS_DIR, logger: pino({ level: 'info' }) });
console.log(`temporal CLI: ${cli}`);
