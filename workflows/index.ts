// Every workflow the worker runs. Workflow code only: deterministic, no I/O, activities by type.
export { ledgerAuditWorkflow } from './ledger-audit.js';
export { generationWorkflow } from './generation.js';
export { holdReconcilerWorkflow } from './hold-reconciler.js';
export { depositWorkflow } from './deposit.js';
export { chatCaptureWorkflow } from './chat-capture.js';
export { paymentReversalWorkflow } from './payment-reversal.js';
