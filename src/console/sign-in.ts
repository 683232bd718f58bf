import type { Knex } from 'knex';
import type { AccountRepository } from '../accounts/repository.js';
import { ConsoleUsers, type ConsoleRole, type ConsoleUser, type LinkPurpose } from './console-users.js';
import { hashPassword, UNKNOWN_USER_HASH, verifyPassword } from './password.js';

/**
 * Console sign-in: email and password, sessions, invitations and password resets. The rules a
 * billing console needs: a wrong email and a wrong password look the same (message and timing);
 * attempts are limited per email and per address across every API process (the database counts);
 * links are single-use and short-lived; a new password ends every other session.
 */

export class SignInRefused extends Error {
  constructor() {
    super('Email or password is incorrect.');
  }
}
export class TooManySignInAttempts extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super(`Too many failed sign-in attempts. Try again in ${Math.ceil(retryAfterSeconds / 60)} minutes, or reset your password.`);
  }
}
export class SignUpClosed extends Error {
  constructor() {
    super('Sign-up is by invitation on this install: ask support for an invitation.');
  }
}
export class EmailTaken extends Error {
  constructor() {
    super('An account with this email already exists: sign in, or reset your password.');
  }
}
export class LinkInvalid extends Error {
  constructor() {
    super('This link is invalid, already used or expired: ask for a new one.');
  }
}
export class ConsoleUserConflict extends Error {}

export interface SignInPolicy {
  signup: 'open' | 'closed';
  sessionTtlSeconds: number;
  invitationTtlSeconds: number;
  resetTtlSeconds: number;
  /** Failed attempts allowed per email and per client address within the window. */
  maxFailuresPerEmail: number;
  maxFailuresPerAddress: number;
  failureWindowSeconds: number;
}

export const DEFAULT_POLICY: Omit<SignInPolicy, 'signup' | 'sessionTtlSeconds'> = {
  invitationTtlSeconds: 7 * 86_400,
  resetTtlSeconds: 3600,
  maxFailuresPerEmail: 5,
  maxFailuresPerAddress: 30,
  failureWindowSeconds: 900,
};

export interface StartedSession {
  user: ConsoleUser;
  token: string;
  csrfToken: string;
  expiresAt: Date;
}

export interface SignInDeps {
  db: Knex;
  users: ConsoleUsers;
  accounts: AccountRepository;
  policy: SignInPolicy;
}

export async function signIn(deps: SignInDeps, input: { email: string; password: string; address: string }): Promise<StartedSession> {
  const { users, policy } = deps;
  const subjects = [`email:${input.email.toLowerCase()}`, `address:${input.address}`];
  const failures = await users.recentFailures(subjects, policy.failureWindowSeconds);
  const limits = [policy.maxFailuresPerEmail, policy.maxFailuresPerAddress];
  subjects.forEach((subject, i) => {
    const seen = failures.get(subject);
    if (seen && seen.count >= limits[i]!) {
      const retryAfter = Math.max(1, Math.ceil((seen.oldest.getTime() + policy.failureWindowSeconds * 1000 - Date.now()) / 1000));
      throw new TooManySignInAttempts(retryAfter);
    }
  });
  const user = await users.byEmail(input.email);
  // Verify even for an unknown email or an unaccepted invitation, so the answer time does not tell.
  const ok = await verifyPassword(input.password, user?.passwordHash ?? UNKNOWN_USER_HASH);
  if (!user || !user.passwordHash || !ok) {
    await users.recordFailure(subjects, policy.failureWindowSeconds);
    throw new SignInRefused();
  }
  await users.forgetFailures(subjects[0]!);
  return { user, ...(await users.startSession(user.id, policy.sessionTtlSeconds)) };
}

/** Self sign-up (when open): a new account, its console user, and a session. */
export async function signUp(deps: SignInDeps, input: { name: string; email: string; password: string }): Promise<StartedSession> {
  if (deps.policy.signup !== 'open') throw new SignUpClosed();
  const passwordHash = await hashPassword(input.password);
  return deps.db.transaction(async (trx) => {
    if (await deps.users.byEmail(input.email)) throw new EmailTaken();
    const account = await deps.accounts.create({ name: input.name, email: input.email }, trx);
    const user = await deps.users.create({ email: input.email, role: 'customer', accountId: account.id, passwordHash }, trx);
    if (!user) throw new EmailTaken();
    return { user, ...(await deps.users.startSession(user.id, deps.policy.sessionTtlSeconds, trx)) };
  });
}

/**
 * Ops invite someone to the console: a customer to an existing account, or another operator. The
 * link sets the password. Inviting an email again (not yet accepted, same account) issues a new link.
 */
export async function invite(
  deps: SignInDeps,
  input: { email: string; role: ConsoleRole; accountId: string | null },
): Promise<{ user: ConsoleUser; token: string; expiresAt: Date }> {
  const existing = await deps.users.byEmail(input.email);
  let user = existing;
  if (existing) {
    if (existing.passwordHash || existing.role !== input.role || existing.accountId !== input.accountId) {
      throw new ConsoleUserConflict(`${input.email} already has a console sign-in; send a password reset instead.`);
    }
  } else {
    user = await deps.users.create({ ...input, passwordHash: null });
    if (!user) throw new ConsoleUserConflict(`${input.email} already has a console sign-in.`);
  }
  return { user: user!, ...(await deps.users.issueLink(user!.id, 'invitation', deps.policy.invitationTtlSeconds)) };
}

/** A one-time password-reset link for a console user (handed over by ops, or mailed). */
export async function issuePasswordReset(deps: SignInDeps, userId: string): Promise<{ user: ConsoleUser; token: string; expiresAt: Date } | null> {
  const user = await deps.users.byId(userId);
  if (!user) return null;
  return { user, ...(await deps.users.issueLink(user.id, 'password_reset', deps.policy.resetTtlSeconds)) };
}

/** Redeems an invitation or reset link: sets the password, ends older sessions, signs in. */
export async function redeemLink(deps: SignInDeps, input: { token: string; password: string }): Promise<StartedSession & { purpose: LinkPurpose }> {
  const passwordHash = await hashPassword(input.password);
  return deps.db.transaction(async (trx) => {
    const redeemed = await deps.users.redeemLink(input.token, trx);
    if (!redeemed) throw new LinkInvalid();
    await deps.users.setPassword(redeemed.user.id, passwordHash, trx);
    await deps.users.endAllSessions(redeemed.user.id, trx);
    const session = await deps.users.startSession(redeemed.user.id, deps.policy.sessionTtlSeconds, trx);
    return { user: { ...redeemed.user, passwordHash }, purpose: redeemed.purpose, ...session };
  });
}
