import nodemailer from 'nodemailer';
import { isLoopback, type Config } from '../config.js';

/**
 * Outgoing mail over SMTP (nodemailer). Its protocol log stays off: messages carry one-time sign-in
 * links and the session carries the SMTP password, and neither may reach a log.
 */

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/** A message the server did not take. Only the SMTP codes are kept: a server's reply text may quote the message or the login. */
export class MailNotSent extends Error {
  constructor(readonly code: string | undefined, readonly responseCode: number | undefined) {
    super(`The mail could not be sent${code ? ` (${code}${responseCode ? ` ${responseCode}` : ''})` : ''}.`);
    this.name = 'MailNotSent';
  }
}

export function createMailer(mail: NonNullable<Config['mail']>): Mailer {
  const { smtp } = mail;
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    auth: smtp.user ? { user: smtp.user, pass: smtp.password ?? '' } : undefined,
    // A login over smtp:// to another host waits for STARTTLS rather than going out in clear
    // text when the offer is missing (stripped on the way, or a misconfigured server).
    requireTLS: !smtp.secure && Boolean(smtp.user) && !isLoopback(smtp.host),
    logger: false,
    debug: false,
    // A slow server must not hold an admin request or a reset for minutes.
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return {
    async send(message) {
      try {
        await transport.sendMail({ from: mail.from, to: message.to, subject: message.subject, text: message.text });
      } catch (err) {
        const e = err as { code?: unknown; responseCode?: unknown };
        throw new MailNotSent(typeof e.code === 'string' ? e.code : undefined, typeof e.responseCode === 'number' ? e.responseCode : undefined);
      }
    },
    close: () => transport.close(),
  };
}
