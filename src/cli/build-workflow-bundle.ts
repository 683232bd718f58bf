import path from 'node:path';
import { writeWorkflowBundle } from '../temporal/worker.js';

// Bundles the workflow code ahead of time; a worker started with WORKFLOW_BUNDLE=<file> loads it instead of bundling.
const file = path.resolve(process.argv[2] ?? 'dist/workflow-bundle.js');
const t0 = performance.now();
await writeWorkflowBundle(file);
console.log(`workflow bundle written to ${file} in ${((performance.now() - t0) / 1000).toFixed(1)} s; start workers with WORKFLOW_BUNDLE=${file}`);
