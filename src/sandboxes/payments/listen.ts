/** Runs a sandbox router standalone on an ephemeral loopback port (tests, benchmarks). */
import type { AddressInfo } from 'node:net';
import express, { type Router } from 'express';

export interface ListeningSandbox {
  /** e.g. http://127.0.0.1:43121 */
  url: string;
  close(): Promise<void>;
}

export async function listen(router: Router): Promise<ListeningSandbox> {
  const app = express();
  app.set('trust proxy', 'loopback');
  app.use(router);
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
