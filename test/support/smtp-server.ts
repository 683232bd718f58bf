import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** A message as the local SMTP server received it: envelope, login and the decoded text body. */
export interface ReceivedMail {
  from: string;
  to: string[];
  user: string | undefined;
  subject: string;
  text: string;
  raw: string;
}

export interface LocalSmtp {
  /** smtp://user:password@127.0.0.1:port for SMTP_URL. */
  url: string;
  password: string;
  received: ReceivedMail[];
  /** The next message to `to`, waiting for it to arrive. */
  nextTo(to: string): Promise<ReceivedMail>;
  close(): Promise<void>;
}

/**
 * A real SMTP server on loopback (the `smtp-server` package: the protocol, AUTH PLAIN/LOGIN,
 * DATA) that keeps what it receives. It requires the login given in the URL and refuses
 * recipients at refused.example, as a server that will not take a message does.
 */
export async function startLocalSmtp(): Promise<LocalSmtp> {
  const user = 'console-mailer';
  const password = `smtp-secret-${Math.random().toString(36).slice(2)}`;
  const received: ReceivedMail[] = [];
  const waiters: { to: string; seen: number; resolve: (m: ReceivedMail) => void }[] = [];
  const server = new SMTPServer({
    // Plain SMTP on loopback: no STARTTLS offered, so the login goes over the plain connection.
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, done) {
      if (auth.username === user && auth.password === password) return done(null, { user });
      return done(new Error('Invalid username or password'));
    },
    onRcptTo(address, _session, done) {
      if (address.address.endsWith('@refused.example')) return done(Object.assign(new Error('Mailbox unavailable'), { responseCode: 550 }));
      return done();
    },
    onData(stream, session, done) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const mail = parse(raw, session.envelope.mailFrom ? session.envelope.mailFrom.address : '', session.envelope.rcptTo.map((r) => r.address), session.user as string | undefined);
        received.push(mail);
        for (const w of [...waiters]) {
          const match = received.filter((m) => m.to.includes(w.to))[w.seen];
          if (match) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(match);
          }
        }
        done();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  const taken = new Map<string, number>();
  return {
    url: `smtp://${user}:${password}@127.0.0.1:${port}`,
    password,
    received,
    nextTo(to) {
      const seen = taken.get(to) ?? 0;
      taken.set(to, seen + 1);
      const already = received.filter((m) => m.to.includes(to))[seen];
      if (already) return Promise.resolve(already);
      return new Promise((resolve) => waiters.push({ to, seen, resolve }));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Headers and the text body of a single-part message (what the console sends), quoted-printable decoded. */
function parse(raw: string, from: string, to: string[], user: string | undefined): ReceivedMail {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  let body = raw.slice(split + 4);
  const header = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(head)?.[1] ?? '';
  if (/quoted-printable/i.test(header('Content-Transfer-Encoding'))) {
    body = Buffer.from(body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
  } else if (/base64/i.test(header('Content-Transfer-Encoding'))) {
    body = Buffer.from(body, 'base64').toString('utf8');
  }
  return { from, to, user, subject: header('Subject'), text: body.replace(/\r\n/g, '\n'), raw };
}
