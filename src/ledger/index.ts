export * from './errors.js';
export * from './money.js';
export * from './types.js';
export { PostgresLedger, type PlaceHoldInput, type PostEntryInput } from './postgres-ledger.js';
export { auditLedger, type AuditReport, type InvariantCheck } from './audit.js';
