import { installSchemathesis, SCHEMATHESIS_VERSION } from '../launcher/schemathesis.js';
import { TOOLS_DIR } from '../launcher/stack.js';

// Installs (or finds) the OpenAPI fuzzer the fault suite runs, so CI fails early if it cannot.
const bin = installSchemathesis(TOOLS_DIR, (line) => console.log(line));
console.log(`schemathesis ${SCHEMATHESIS_VERSION}: ${bin}`);
