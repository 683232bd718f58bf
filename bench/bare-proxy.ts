import http from 'node:http';
import pg from 'pg';
import { createDb } from '../src/db/connection.js';
import { GroupCommit } from '../src/ledger/group-commit.js';

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
 * locks, no funds check: what is left between it and the gateway is the gateway's own
 * work, not the hops and the flush its guarantees require. Concurrent requests' writes are batched
 * by the ledger's own group commit (one statement and one commit per batch).
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

/**
 * Two connections, one committing without waiting for the flush and one durably, each batched by
 * the ledger's own `GroupCommit` (one lane, batches of up to 64, as the service runs it): one
 * multi-row insert and one commit for the requests that arrived while the last batch ran.
 */
async function floorBooks(databaseUrl: string) {
  const unflushed = new pg.Client({ connectionString: databaseUrl, options: '-c synchronous_commit=off' });
  const durable = new pg.Client({ connectionString: databaseUrl });
  await Promise.all([unflushed.connect(), durable.connect()]);
  await durable.query('CREATE TABLE IF NOT EXISTS bench_floor (n bigint NOT NULL, kind text NOT NULL)');
  // GroupCommit's own connection pool serves only operations run alone, which the floor has none of.
  const db = createDb(databaseUrl, { poolMax: 1 });
  let n = 0;
  const lane = (client: pg.Client, kind: string) => {
    const commits = new GroupCommit<number, null>(
      db,
      async (ns) => {
        await client.query({ name: `floor-${kind}`, text: 'INSERT INTO bench_floor (n, kind) SELECT unnest($1::bigint[]), $2', values: [ns, kind] });
        return ns.map(() => null);
      },
      { lanes: 1, maxBatch: 64 },
    );
    return () => commits.run(kind, ++n);
  };
  return { hold: lane(unflushed, 'hold'), capture: lane(durable, 'capture') };
}
