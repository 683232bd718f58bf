import net from 'node:net';

/**
 * The load balancer in front of the API processes (a TCP proxy, round robin): a backend that
 * refuses connections is skipped, as a health-checked balancer would; connections already open to
 * a process that dies are cut, which is what a client of a crashed process sees.
 */
export interface Balancer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startBalancer(port: number, backends: () => number[]): Promise<Balancer> {
  let next = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    const ports = backends();
    const tryBackend = (attempt: number) => {
      if (attempt >= ports.length) return void client.destroy();
      const port = ports[next++ % ports.length]!;
      const upstream = net.connect(port, '127.0.0.1');
      let connected = false;
      upstream.once('connect', () => {
        connected = true;
        client.pipe(upstream);
        upstream.pipe(client);
      });
      upstream.on('error', () => {
        if (!connected) return tryBackend(attempt + 1);
        client.destroy();
      });
      upstream.on('close', () => connected && client.destroy());
      client.on('close', () => upstream.destroy());
    };
    tryBackend(0);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
