import { deliverLink, type LinkMail } from './link-mail.js';
import type { SignInDeps } from './sign-in.js';

/**
 * "Forgot your password": a reset link mailed to the address, if it has a console sign-in. The
 * answer is the same, in the same time, whether or not it does (the lookup and the mail happen
 * after it), so the form cannot be used to find out who is a customer. Requests are limited per
 * email and per client address across every API process (counted in the database, like failed
 * sign-ins), so the form cannot be used to flood someone's mailbox either.
 */

export const RESET_REQUEST_LIMITS = { perEmail: 3, perAddress: 10, windowSeconds: 3600 };

export class TooManyResetRequests extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super(`Too many password reset requests. Try again in ${Math.ceil(retryAfterSeconds / 60)} minutes.`);
  }
}

/** `email`: a link is on its way if the address has a sign-in; `support`: no mail on this install, support hands links out. */
export type ResetDelivery = 'email' | 'support';

export async function requestPasswordReset(
  deps: SignInDeps & { mail: LinkMail },
  input: { email: string; address: string },
): Promise<{ delivery: ResetDelivery }> {
  const { users, mail } = deps;
  const subjects = [`reset-email:${input.email.toLowerCase()}`, `reset-address:${input.address}`];
  const limits = [RESET_REQUEST_LIMITS.perEmail, RESET_REQUEST_LIMITS.perAddress];
  const windowSeconds = RESET_REQUEST_LIMITS.windowSeconds;
  const seen = await users.recentFailures(subjects, windowSeconds);
  subjects.forEach((subject, i) => {
    const s = seen.get(subject);
    if (s && s.count >= limits[i]!) {
      throw new TooManyResetRequests(Math.max(1, Math.ceil((s.oldest.getTime() + windowSeconds * 1000 - Date.now()) / 1000)));
    }
  });
  await users.recordFailure(subjects, windowSeconds);
  if (!mail.mailer) return { delivery: 'support' };
  // Not awaited: the answer must not wait for (and so time) the lookup and the SMTP exchange.
  void (async () => {
    const user = await users.byEmail(input.email);
    if (!user) return;
    const link = await users.issueLink(user.id, 'password_reset', deps.policy.resetTtlSeconds);
    await deliverLink(mail, { user, purpose: 'password_reset', ...link });
  })().catch((err: unknown) => {
    // Only the error's kind: a message here could quote the address or the link.
    mail.logger.warn({ error: err instanceof Error ? err.name : typeof err }, 'password reset mail not sent');
  });
  return { delivery: 'email' };
}
