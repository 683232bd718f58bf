/** A local endpoint that records the webhooks a sandbox provider delivers, byte for byte. */
import type { AddressInfo } from 'node:net';
import express from 'express';

export interface ReceivedWebhook {
  body: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** Resolves once at least `count` webhooks have arrived. */
  waitFor(count: number): Promise<ReceivedWebhook[]>;
  /** HTTP status to answer with from now on (to make the provider retry). */
  respondWith(status: number): void;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const waiters: Array<{ count: number; resolve: (r: ReceivedWebhook[]) => void }> = [];
  let status = 200;
  const app = express();
  app.post('/hook', express.raw({ type: () => true }), (req, res) => {
    received.push({ body: req.body as Buffer, headers: req.headers });
    for (const w of [...waiters]) {
      if (received.length >= w.count) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(received.slice());
      }
    }
    res.status(status).end();
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    waitFor: (count) =>
      received.length >= count ? Promise.resolve(received.slice()) : new Promise((resolve) => waiters.push({ count, resolve })),
    respondWith: (s) => {
      status = s;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
