import http from 'node:http';

/**
 * The least a Node gateway can do per request: read the client's request, send it to the
 * upstream on a keep-alive connection, and write the upstream's answer back, on bare node:http,
 * with no authentication, no billing and no parsing. `BENCH_PROXY=1 npm run bench:chat` measures
 * it beside the direct path and the gateway, so the gateway's throughput can be read against what
 * any proxy written on this runtime gets out of the same machine.
 */
export function listenBareProxy(upstreamBaseUrl: string): Promise<string> {
  const upstream = new URL(upstreamBaseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const forward = http.request(
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
          answer.on('data', (chunk: Buffer) => res.write(chunk));
          answer.on('end', () => res.end());
        },
      );
      forward.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      forward.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}/v1`)));
}
