import type { Logger } from 'pino';
import { MailNotSent, type Mailer, type MailMessage } from '../mail/mailer.js';
import type { ConsoleUser, LinkPurpose } from './console-users.js';

/**
 * How a one-time console link reaches its person: by mail when SMTP is configured, otherwise in
 * the admin API's answer for ops to hand over. The link is a bearer credential until used, so
 * it is written into the message and nowhere else: never logged, never in an error.
 */

export interface LinkMail {
  /** Unset when no SMTP server is configured. */
  mailer?: Mailer;
  publicUrl: string;
  logger: Logger;
}

export type LinkDelivery = { delivery: 'email' } | { delivery: 'link'; url: string; mailError?: string };

/** In the fragment, so the token never reaches a server log or a Referer. */
export const linkUrl = (publicUrl: string, token: string) => `${publicUrl}/#/link/${token}`;

export function linkMessage(input: { user: ConsoleUser; purpose: LinkPurpose; url: string; expiresAt: Date }): MailMessage {
  const until = `${input.expiresAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  if (input.purpose === 'password_reset') {
    return {
      to: input.user.email,
      subject: 'Reset your Cheapa console password',
      text: [
        'Someone (we hope you) asked to reset the password of your Cheapa console sign-in.',
        '',
        `Choose a new password here (the link works once, until ${until}):`,
        input.url,
        '',
        'If you did not ask for this, ignore this message: your password stays as it is.',
      ].join('\n'),
    };
  }
  const what = input.user.role === 'ops' ? 'the Cheapa ops view' : 'the Cheapa billing console';
  return {
    to: input.user.email,
    subject: `You are invited to ${what}`,
    text: [
      `You are invited to ${what}.`,
      '',
      `Choose your password here to sign in (the link works once, until ${until}):`,
      input.url,
    ].join('\n'),
  };
}

/** Mails the link if it can; otherwise, or when the server refuses it, hands the link back to the caller. */
export async function deliverLink(
  mail: LinkMail,
  input: { user: ConsoleUser; purpose: LinkPurpose; token: string; expiresAt: Date },
): Promise<LinkDelivery> {
  const url = linkUrl(mail.publicUrl, input.token);
  if (!mail.mailer) return { delivery: 'link', url };
  try {
    await mail.mailer.send(linkMessage({ ...input, url }));
    return { delivery: 'email' };
  } catch (err) {
    if (!(err instanceof MailNotSent)) throw err;
    mail.logger.warn({ code: err.code, responseCode: err.responseCode, userId: input.user.id, purpose: input.purpose }, 'console link mail not sent');
    return { delivery: 'link', url, mailError: err.message };
  }
}
