import http from 'node:http';
import pg from 'pg';

/**
 * The least a Node gateway can do per request: read the client's request, send it to the
 * upstream on a keep-alive connection, and write the upstream's answer back, on bare node:http,
 * with no authentication, no billing and no parsing. `BENCH_PROXY=1 npm run bench:chat` measures
 * it beside the direct path and the gateway, so the gateway's throughput can be read against what
 * any proxy written on this runtime gets out of the same machine.
 *
 * With `databaseUrl` (`BENCH_PROXY=ledger`) it also makes the two database round trips any gateway
 * that bills durably must make, and nothing else: before the upstream call a one-row insert
 * committed without waiting for its flush (as the service commits a chat hold), and after the
 * answer, before the client sees its end, a one-row insert committed durably (the capture). No
 * batching, no locks, no funds check: what is left between it and the gateway is the gateway's own
 * work, not the hops and the flush its guarantees require.
 */
export async function listenBareProxy(upstreamBaseUrl: string, databaseUrl?: string): Promise<string> {
  const upstream = new URL(upstreamBaseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const books = databaseUrl ? await floorBooks(databaseUrl) : undefined;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const fail = () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      };
      const forward = () => {
        const call = http.request(
          {
            host: upstream.hostname,
            port: upstream.port,
            path: `${upstream.pathname}${req.url!.replace(/^\/v1/, '')}`,
            method: req.method,
            agent,
            headers: { 'content-type': req.headers['content-type'] ?? 'application/json', 'content-length': body.length },
          },
          (answer) => {
            const length = answer.headers['content-length'];
            res.writeHead(answer.statusCode ?? 502, {
              'content-type': answer.headers['content-type'] ?? 'application/json',
              ...(length ? { 'content-length': length } : {}),
            });
            if (!books) {
              answer.on('data', (chunk: Buffer) => res.write(chunk));
              answer.on('end', () => res.end());
              return;
            }
            // A stream's chunks go on as they come; the last bytes wait for the durable capture.
            const streaming = !length;
            const held: Buffer[] = [];
            answer.on('data', (chunk: Buffer) => (streaming ? res.write(chunk) : held.push(chunk)));
            answer.on('end', () => books.capture().then(() => res.end(Buffer.concat(held)), fail));
          },
        );
        call.on('error', fail);
        call.end(body);
      };
      if (books) books.hold().then(forward, fail);
      else forward();
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}/v1`)));
}

/** Two pools of connections, one committing without waiting for the flush and one durably; named statements. */
async function floorBooks(databaseUrl: string) {
  const pools = {
    unflushed: new pg.Pool({ connectionString: databaseUrl, max: 16, options: '-c synchronous_commit=off' }),
    durable: new pg.Pool({ connectionString: databaseUrl, max: 16 }),
  };
  await pools.durable.query('CREATE TABLE IF NOT EXISTS bench_floor (n bigint NOT NULL, kind text NOT NULL)');
  let n = 0;
  const insert = (pool: pg.Pool, kind: string) => pool.query({ name: `floor-${kind}`, text: 'INSERT INTO bench_floor (n, kind) VALUES ($1, $2)', values: [++n, kind] });
  return {
    hold: () => insert(pools.unflushed, 'hold'),
    capture: () => insert(pools.durable, 'capture'),
  };
}
