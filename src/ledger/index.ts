export * from './errors.js';
export * from './money.js';
export * from './types.js';
export { PostgresLedger, type PlaceHoldInput, type PostEntryInput } from './postgres-ledger.js';
export { reconcile, type ReconcileReport, type InvariantCheck } from './reconcile.js';
