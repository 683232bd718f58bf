import type { Knex } from 'knex';
import { newId } from '../ids.js';
import { generateApiKey } from './api-key.js';

export interface Account {
  id: string;
  name: string;
  email: string;
  balance: bigint;
  held: bigint;
  createdAt: Date;
}

export interface ApiKeyRecord {
  id: string;
  accountId: string;
  name: string;
  prefix: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export class AccountRepository {
  constructor(private readonly db: Knex) {}

  async create(input: { name: string; email: string }): Promise<Account> {
    const [row] = await this.db('accounts').insert({ id: newId('acct'), name: input.name, email: input.email }).returning('*');
    return toAccount(row);
  }

  async get(id: string): Promise<Account | null> {
    const row = await this.db('accounts').where({ id }).first();
    return row ? toAccount(row) : null;
  }

  /** Issues a key; the secret is in the return value only and is never stored or logged. */
  async createKey(accountId: string, name: string): Promise<{ record: ApiKeyRecord; key: string }> {
    const { key, prefix, hash } = generateApiKey();
    const [row] = await this.db('api_keys')
      .insert({ id: newId('key'), account_id: accountId, name, prefix, key_hash: hash })
      .returning(['id', 'account_id', 'name', 'prefix', 'created_at', 'revoked_at']);
    return { record: toKey(row), key };
  }

  async findKeyByHash(hash: string): Promise<ApiKeyRecord | null> {
    const row = await this.db('api_keys')
      .select('id', 'account_id', 'name', 'prefix', 'created_at', 'revoked_at')
      .where({ key_hash: hash })
      .first();
    return row ? toKey(row) : null;
  }

  async listKeys(accountId: string): Promise<ApiKeyRecord[]> {
    const rows = await this.db('api_keys')
      .select('id', 'account_id', 'name', 'prefix', 'created_at', 'revoked_at')
      .where({ account_id: accountId })
      .orderBy('created_at');
    return rows.map(toKey);
  }

  /** Revoking twice is harmless; the first revocation time is kept. */
  async revokeKey(id: string): Promise<ApiKeyRecord | null> {
    await this.db('api_keys').where({ id }).whereNull('revoked_at').update({ revoked_at: this.db.fn.now() });
    const row = await this.db('api_keys').select('id', 'account_id', 'name', 'prefix', 'created_at', 'revoked_at').where({ id }).first();
    return row ? toKey(row) : null;
  }
}

function toAccount(r: Record<string, any>): Account {
  return { id: r.id, name: r.name, email: r.email, balance: r.balance, held: r.held, createdAt: r.created_at };
}

function toKey(r: Record<string, any>): ApiKeyRecord {
  return { id: r.id, accountId: r.account_id, name: r.name, prefix: r.prefix, createdAt: r.created_at, revokedAt: r.revoked_at };
}
