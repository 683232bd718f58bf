import net from 'node:net';

export interface RawExchange {
  /** Status code of the first response line, or null when the server closed without answering. */
  status: number | null;
  /** Everything the server sent. */
  text: string;
  /** Bytes of body this client managed to send before the server closed the connection. */
  sent: number;
}

/**
 * Sends a request whose headers announce `announced` body bytes but only ever writes
 * `send` of them, then waits for the server to close the connection. A server that reads
 * bodies before refusing would wait for the rest (and the test would time out); one that
 * refuses without reading answers and hangs up.
 */
export function announceBigBody(
  baseUrl: string,
  opts: { path: string; announced: number; send: number; headers?: Record<string, string> },
): Promise<RawExchange> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let text = '';
    let sent = 0;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset after the answer is the server hanging up on the unread body: what we want.
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
    });
    socket.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : null, text, sent });
    });
    socket.on('connect', () => {
      const head = [
        `POST ${opts.path} HTTP/1.1`,
        `Host: ${hostname}:${port}`,
        'Content-Type: application/json',
        `Content-Length: ${opts.announced}`,
        ...Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
        '',
        '',
      ].join('\r\n');
      socket.write(head);
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      const pump = () => {
        while (sent < opts.send && !socket.destroyed) {
          sent += chunk.length;
          if (!socket.write(chunk)) return void socket.once('drain', pump);
        }
      };
      pump();
    });
  });
}
