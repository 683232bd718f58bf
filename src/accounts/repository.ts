import type { Knex } from 'knex';
import { newId } from '../ids.js';
import { LastManagementKey } from '../keys/errors.js';
import type { KeySettings } from '../keys/key-settings.js';
import { generateApiKey } from './api-key.js';

export interface Account {
  id: string;
  name: string;
  email: string;
  balance: bigint;
  held: bigint;
  createdAt: Date;
}

export interface ApiKeyRecord extends KeySettings {
  id: string;
  accountId: string;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  /** Read with the key on authentication only (findKeyByHash): the account is suspended (403). */
  accountSuspended?: boolean;
}

const KEY_COLUMNS = [
  'id', 'account_id', 'name', 'prefix', 'created_at', 'last_used_at', 'revoked_at',
  'manage', 'spend_limit', 'limit_reset', 'models', 'rpm', 'tpm', 'expires_at',
];

/** An active management key: not revoked, not expired. */
const ACTIVE_MANAGER = `manage AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`;

export class AccountRepository {
  constructor(private readonly db: Knex) {}

  async create(input: { name: string; email: string }, trx: Knex = this.db): Promise<Account> {
    const [row] = await trx('accounts').insert({ id: newId('acct'), name: input.name, email: input.email }).returning('*');
    return toAccount(row);
  }

  /** Whether any account exists (the launcher creates a demo account on a fresh data directory). */
  async any(): Promise<boolean> {
    return (await this.db('accounts').select('id').limit(1).first()) !== undefined;
  }

  async get(id: string, q: Knex = this.db): Promise<Account | null> {
    const row = await q('accounts').where({ id }).first();
    return row ? toAccount(row) : null;
  }

  /** Ops' account search: an exact id, or a part of the name or email; newest first. */
  async search(query: string | undefined, limit: number): Promise<Account[]> {
    const q = this.db('accounts').orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit);
    if (query) {
      const pattern = `%${query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      q.where((w) => w.where('id', query).orWhereILike('email', pattern).orWhereILike('name', pattern));
    }
    return (await q).map(toAccount);
  }

  /**
   * Issues a key (admin API, launcher); the secret is in the return value only and is never
   * stored or logged. It gets management rights when the account has no active management key,
   * so an account's first key can manage the others.
   */
  async createKey(accountId: string, name: string): Promise<{ record: ApiKeyRecord; key: string }> {
    const manage = this.db.raw(`NOT EXISTS (SELECT 1 FROM api_keys WHERE account_id = ? AND ${ACTIVE_MANAGER})`, [accountId]);
    return this.insertKey(accountId, { name, manage });
  }

  /** Issues a key with the settings its creator chose (customer API). */
  async issueKey(accountId: string, settings: KeySettings): Promise<{ record: ApiKeyRecord; key: string }> {
    return this.insertKey(accountId, { ...settingColumns(settings), manage: settings.manage });
  }

  private async insertKey(accountId: string, columns: Record<string, unknown>): Promise<{ record: ApiKeyRecord; key: string }> {
    const { key, prefix, hash } = generateApiKey();
    const [row] = await this.db('api_keys')
      .insert({ id: newId('key'), account_id: accountId, prefix, key_hash: hash, ...columns })
      .returning(KEY_COLUMNS);
    return { record: toKey(row), key };
  }

  async findKeyByHash(hash: string): Promise<ApiKeyRecord | null> {
    // The account's suspension comes with the key (one indexed read), so the check costs nothing extra.
    const row = await this.db('api_keys')
      .select([...KEY_COLUMNS, this.db.raw('(SELECT suspended_at IS NOT NULL FROM accounts a WHERE a.id = api_keys.account_id) AS account_suspended')])
      .where({ key_hash: hash })
      .first();
    return row ? { ...toKey(row), accountSuspended: row.account_suspended === true } : null;
  }

  async listKeys(accountId: string, opts: { activeOnly?: boolean } = {}, q: Knex = this.db): Promise<ApiKeyRecord[]> {
    const query = q('api_keys').select(KEY_COLUMNS).where({ account_id: accountId });
    if (opts.activeOnly) query.whereNull('revoked_at');
    const rows = await query.orderBy([{ column: 'created_at' }, { column: 'id' }]);
    return rows.map(toKey);
  }

  /** A key of this account that has not been revoked. */
  async findActiveKey(accountId: string, id: string): Promise<ApiKeyRecord | null> {
    const row = await this.db('api_keys').select(KEY_COLUMNS).where({ id, account_id: accountId }).whereNull('revoked_at').first();
    return row ? toKey(row) : null;
  }

  /**
   * Changes an active key of the account, or revokes it (`revoke: true`). Taking management away
   * from the account's last active management key throws LastManagementKey: the account's
   * management keys are locked first, so two concurrent demotions cannot both pass the check.
   * Returns null when the key is unknown or already revoked.
   */
  async changeKey(
    accountId: string,
    id: string,
    change: Partial<KeySettings> | { revoke: true },
    validate: (merged: ApiKeyRecord) => void = () => {},
  ): Promise<ApiKeyRecord | null> {
    return this.db.transaction(async (trx) => {
      const managers: string[] = await trx('api_keys')
        .where({ account_id: accountId })
        .whereRaw(ACTIVE_MANAGER)
        .orderBy('id')
        .forUpdate()
        .pluck('id');
      const current = await trx('api_keys').select(KEY_COLUMNS).where({ id, account_id: accountId }).whereNull('revoked_at').forUpdate().first();
      if (!current) return null;
      if (!('revoke' in change)) validate({ ...toKey(current), ...change });
      const losesManagement = 'revoke' in change || change.manage === false || (change.expiresAt != null && change.expiresAt <= new Date());
      if (losesManagement && managers.length === 1 && managers[0] === id) throw new LastManagementKey(id);
      const columns = 'revoke' in change ? { revoked_at: trx.fn.now() } : { ...settingColumns(change), ...(change.manage !== undefined ? { manage: change.manage } : {}) };
      if (Object.keys(columns).length === 0) return toKey(current);
      const [row] = await trx('api_keys').where({ id }).update(columns).returning(KEY_COLUMNS);
      return toKey(row);
    });
  }

  /** Admin revocation. Revoking twice is harmless; the first revocation time is kept. */
  async revokeKey(id: string): Promise<ApiKeyRecord | null> {
    await this.db('api_keys').where({ id }).whereNull('revoked_at').update({ revoked_at: this.db.fn.now() });
    const row = await this.db('api_keys').select(KEY_COLUMNS).where({ id }).first();
    return row ? toKey(row) : null;
  }
}

function settingColumns(s: Partial<KeySettings>): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  if (s.name !== undefined) columns.name = s.name;
  if (s.spendLimit !== undefined) columns.spend_limit = s.spendLimit === null ? null : s.spendLimit.toString();
  if (s.limitReset !== undefined) columns.limit_reset = s.limitReset;
  if (s.models !== undefined) columns.models = s.models;
  if (s.rpm !== undefined) columns.rpm = s.rpm;
  if (s.tpm !== undefined) columns.tpm = s.tpm;
  if (s.expiresAt !== undefined) columns.expires_at = s.expiresAt;
  return columns;
}

function toAccount(r: Record<string, any>): Account {
  return { id: r.id, name: r.name, email: r.email, balance: r.balance, held: r.held, createdAt: r.created_at };
}

function toKey(r: Record<string, any>): ApiKeyRecord {
  return {
    id: r.id,
    accountId: r.account_id,
    name: r.name,
    prefix: r.prefix,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
    manage: r.manage,
    spendLimit: r.spend_limit,
    limitReset: r.limit_reset,
    models: r.models,
    rpm: r.rpm,
    tpm: r.tpm,
    expiresAt: r.expires_at,
  };
}
