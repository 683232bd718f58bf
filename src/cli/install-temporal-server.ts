import { TOOLS_DIR } from '../launcher/stack.js';
import { installTemporalServer } from '../launcher/temporal-server.js';

// Builds (or finds) the production Temporal server and its schema tool ahead of time, so the fault suite and CI fail early if they cannot.
const tools = installTemporalServer(TOOLS_DIR, (line) => console.log(line));
console.log(`temporal server: ${tools.server}\nschema tool:     ${tools.sql}\nschemas/configs: ${tools.moduleDir}`);
