// Every workflow the worker runs. Workflow code only: deterministic, no I/O, activities by type.
export { ledgerAuditWorkflow } from './ledger-audit.js';
export { generationWorkflow } from './generation.js';
// The hold sweep keeps the workflow type it was deployed under (see HOLD_SWEEP_WORKFLOW_TYPE).
export { holdSweepWorkflow as holdReconcilerWorkflow } from './hold-sweep.js';
export { depositWorkflow } from './deposit.js';
export { chatCaptureWorkflow } from './chat-capture.js';
export { paymentReversalWorkflow } from './payment-reversal.js';
export { balanceAlertWorkflow } from './balance-alert.js';
export { autoTopupWorkflow } from './auto-topup.js';
