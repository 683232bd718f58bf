import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { freePort } from '../src/launcher/free-port.js';

// bench:chat's fallback phase: the same model served through a PROVIDERS_FILE whose first route
// fails and whose second is the benchmark's upstream, so the run shows what one failed route adds.

/** How the first route fails: nothing listens on its port, or it answers 503 at once. */
export type FailedRoute = 'connection refused' | '503';
export const FAILED_ROUTES: readonly FailedRoute[] = ['connection refused', '503'];

export interface FallbackRoutes {
  /** Environment for a gateway child: PROVIDERS_FILE and nothing else about upstreams. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function fallbackRoutes(kind: FailedRoute, model: string, upstreamUrl: string, dir: string): Promise<FallbackRoutes> {
  let failing: http.Server | undefined;
  let failingUrl: string;
  if (kind === '503') {
    failing = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"message":"overloaded","type":"server_error","code":null}}'));
    });
    await new Promise<void>((resolve) => failing!.listen(0, '127.0.0.1', resolve));
    failingUrl = `http://127.0.0.1:${(failing.address() as AddressInfo).port}/v1`;
  } else {
    // A port just found free and left unbound: every connection to it is refused.
    failingUrl = `http://127.0.0.1:${await freePort()}/v1`;
  }
  const file = path.join(dir, `providers-${kind.replace(/\W+/g, '-')}.json`);
  fs.writeFileSync(
    file,
    JSON.stringify({
      providers: [
        { name: 'failing', api: 'openai', base_url: failingUrl },
        { name: 'upstream', api: 'openai', base_url: upstreamUrl },
      ],
      models: { [model]: [{ provider: 'failing', model }, { provider: 'upstream', model }] },
    }),
  );
  return {
    env: { PROVIDERS_FILE: file },
    close: () => new Promise<void>((resolve) => (failing ? failing.close(() => resolve()) : resolve())),
  };
}
