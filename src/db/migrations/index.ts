import type { Knex } from 'knex';
import * as core from './20261125_0001_core.js';
import * as deposits from './20261125_0100_deposits.js';
import * as generations from './20261125_0200_generations.js';
import * as chat from './20261125_0300_chat.js';
import * as holdLeases from './20261130_0400_hold_leases.js';
import * as apiKeySettings from './20261130_0410_api_key_settings.js';
import * as owedAndReversals from './20261130_0500_owed_and_reversals.js';
import * as supportStatuses from './20261130_0510_support_statuses.js';
import * as consoleSignIn from './20261130_0700_console.js';
import * as keyBudgets from './20261130_0710_key_budgets.js';
import * as requestCacheTokens from './20261130_0710_request_cache_tokens.js';
import * as ledgerBatch from './20261130_0720_ledger_batch.js';
import * as apiKeyChanges from './20261130_0730_api_key_changes.js';
import * as balanceWatchFlag from './20261130_0740_balance_watch_flag.js';
import * as keyTokenWindows from './20261130_0750_key_token_windows.js';
import * as balanceThresholds from './20261130_0800_balance_thresholds.js';
import * as billingNotify from './20261130_1200_billing_notify.js';
import * as ledgerBatchAccountOnce from './20261201_0100_ledger_batch_account_once.js';
import * as ledgerBatchSetBased from './20261201_0200_ledger_batch_set_based.js';
import * as ledgerBatchAccountFirst from './20261201_0300_ledger_batch_account_first.js';
import * as chatAllowances from './20261202_0100_chat_allowances.js';
import * as savedCards from './20261130_0810_saved_cards.js';
import * as autoTopup from './20261130_0820_auto_topup.js';
import * as balanceCrossingRowTrigger from './20261130_0830_balance_crossing_row_trigger.js';

/**
 * Migrations are listed here rather than discovered on disk, so they run the same under tsx,
 * vitest and a bundled build. Keep the list in name order; each area adds its own file.
 */
const migrations: Record<string, Knex.Migration> = {
  '20261125_0001_core': core,
  '20261125_0100_deposits': deposits,
  '20261125_0200_generations': generations,
  '20261125_0300_chat': chat,
  '20261130_0400_hold_leases': holdLeases,
  '20261130_0410_api_key_settings': apiKeySettings,
  '20261130_0500_owed_and_reversals': owedAndReversals,
  '20261130_0510_support_statuses': supportStatuses,
  '20261130_0700_console': consoleSignIn,
  '20261130_0710_key_budgets': keyBudgets,
  '20261130_0710_request_cache_tokens': requestCacheTokens,
  '20261130_0720_ledger_batch': ledgerBatch,
  '20261130_0730_api_key_changes': apiKeyChanges,
  '20261130_0740_balance_watch_flag': balanceWatchFlag,
  '20261130_0750_key_token_windows': keyTokenWindows,
  '20261130_0800_balance_thresholds': balanceThresholds,
  '20261130_0810_saved_cards': savedCards,
  '20261130_0820_auto_topup': autoTopup,
  '20261130_0830_balance_crossing_row_trigger': balanceCrossingRowTrigger,
  '20261130_1200_billing_notify': billingNotify,
  '20261201_0100_ledger_batch_account_once': ledgerBatchAccountOnce,
  '20261201_0200_ledger_batch_set_based': ledgerBatchSetBased,
  '20261201_0300_ledger_batch_account_first': ledgerBatchAccountFirst,
  '20261202_0100_chat_allowances': chatAllowances,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name]!,
};
