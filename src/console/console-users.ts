import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { newId } from '../ids.js';

/** Owner of console_users, console_sessions, console_links and console_sign_in_failures. */

export type ConsoleRole = 'customer' | 'ops';
export type LinkPurpose = 'invitation' | 'password_reset';

export interface ConsoleUser {
  id: string;
  accountId: string | null;
  email: string;
  role: ConsoleRole;
  passwordHash: string | null;
  createdAt: Date;
}

export interface ConsoleSession {
  user: ConsoleUser;
  csrfToken: string;
  expiresAt: Date;
}

/** Tokens handed to browsers are random; only their digest is stored. */
export const tokenDigest = (token: string) => createHash('sha256').update(token).digest('hex');
export const newToken = () => randomBytes(32).toString('base64url');

const toUser = (r: Record<string, any>): ConsoleUser => ({
  id: r.id,
  accountId: r.account_id,
  email: r.email,
  role: r.role,
  passwordHash: r.password_hash,
  createdAt: r.created_at,
});

export class ConsoleUsers {
  constructor(private readonly db: Knex) {}

  async byEmail(email: string): Promise<ConsoleUser | null> {
    const row = await this.db('console_users').whereRaw('lower(email) = lower(?)', [email]).first();
    return row ? toUser(row) : null;
  }

  async byId(id: string): Promise<ConsoleUser | null> {
    const row = await this.db('console_users').where({ id }).first();
    return row ? toUser(row) : null;
  }

  /** Null when the email is already taken (the unique index decides, so two sign-ups cannot race). */
  async create(input: { email: string; role: ConsoleRole; accountId: string | null; passwordHash: string | null }, trx: Knex = this.db): Promise<ConsoleUser | null> {
    const rows = await trx('console_users')
      .insert({ id: newId('cu'), email: input.email, role: input.role, account_id: input.accountId, password_hash: input.passwordHash })
      .onConflict(trx.raw('(lower(email))'))
      .ignore()
      .returning('*');
    return rows[0] ? toUser(rows[0]) : null;
  }

  async setPassword(userId: string, passwordHash: string, trx: Knex = this.db): Promise<void> {
    await trx('console_users').where({ id: userId }).update({ password_hash: passwordHash });
  }

  async startSession(userId: string, ttlSeconds: number, trx: Knex = this.db): Promise<{ token: string; csrfToken: string; expiresAt: Date }> {
    const token = newToken();
    const csrfToken = newToken();
    const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
    await trx('console_sessions').insert({ token_hash: tokenDigest(token), user_id: userId, csrf_token: csrfToken, expires_at: expiresAt });
    return { token, csrfToken, expiresAt };
  }

  async session(token: string): Promise<ConsoleSession | null> {
    const row = await this.db('console_sessions as s')
      .join('console_users as u', 'u.id', 's.user_id')
      .where('s.token_hash', tokenDigest(token))
      .whereNull('s.ended_at')
      .where('s.expires_at', '>', this.db.fn.now())
      .first('u.*', 's.csrf_token', 's.expires_at as session_expires_at');
    return row ? { user: toUser(row), csrfToken: row.csrf_token, expiresAt: row.session_expires_at } : null;
  }

  async endSession(token: string): Promise<void> {
    await this.db('console_sessions').where({ token_hash: tokenDigest(token) }).whereNull('ended_at').update({ ended_at: this.db.fn.now() });
  }

  /** A new password ends every session signed in with the old one. */
  async endAllSessions(userId: string, trx: Knex = this.db): Promise<void> {
    await trx('console_sessions').where({ user_id: userId }).whereNull('ended_at').update({ ended_at: trx.fn.now() });
  }

  async issueLink(userId: string, purpose: LinkPurpose, ttlSeconds: number): Promise<{ token: string; expiresAt: Date }> {
    const token = newToken();
    const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
    await this.db('console_links').insert({ token_hash: tokenDigest(token), user_id: userId, purpose, expires_at: expiresAt });
    return { token, expiresAt };
  }

  /** Marks the link used and returns its user, once; null for an unknown, used or expired link. */
  async redeemLink(token: string, trx: Knex): Promise<{ user: ConsoleUser; purpose: LinkPurpose } | null> {
    const [link] = await trx('console_links')
      .where({ token_hash: tokenDigest(token) })
      .whereNull('used_at')
      .where('expires_at', '>', trx.fn.now())
      .update({ used_at: trx.fn.now() })
      .returning(['user_id', 'purpose']);
    if (!link) return null;
    const user = toUser(await trx('console_users').where({ id: link.user_id }).first());
    return { user, purpose: link.purpose };
  }

  /**
   * Throttled attempts (failed sign-ins; password reset requests, under their own subjects) of each
   * subject within the window, and when the oldest of them leaves it.
   */
  async recentFailures(subjects: string[], windowSeconds: number): Promise<Map<string, { count: number; oldest: Date }>> {
    const rows = await this.db('console_sign_in_failures')
      .whereIn('subject', subjects)
      .where('at', '>', this.db.raw(`now() - make_interval(secs => ?)`, [windowSeconds]))
      .groupBy('subject')
      .select('subject', this.db.raw('count(*)::int AS count'), this.db.raw('min(at) AS oldest'));
    return new Map(rows.map((r: any) => [r.subject, { count: r.count, oldest: r.oldest }]));
  }

  async recordFailure(subjects: string[], windowSeconds: number): Promise<void> {
    await this.db('console_sign_in_failures').insert(subjects.map((subject) => ({ subject })));
    // Rows past the window count for nothing; dropping them here keeps the table as small as the attacks.
    await this.db('console_sign_in_failures')
      .whereIn('subject', subjects)
      .where('at', '<', this.db.raw(`now() - make_interval(secs => ?)`, [windowSeconds]))
      .delete();
  }

  async forgetFailures(subject: string): Promise<void> {
    await this.db('console_sign_in_failures').where({ subject }).delete();
  }
}
