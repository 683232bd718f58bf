import net from 'node:net';
import knex from 'knex';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/launcher/free-port.js';
import { toApiError } from '../../src/http/errors.js';

/** Errors as PostgreSQL and the network really raise them, not hand-built look-alikes. */
async function errorOf(config: pg.ClientConfig, sql = 'SELECT 1'): Promise<unknown> {
  const client = new pg.Client(config);
  try {
    await client.connect();
    await client.query(sql);
  } catch (err) {
    return err;
  } finally {
    await client.end().catch(() => {});
  }
  throw new Error('expected an error');
}

/** A knex pool whose connections pass through a proxy that `cut` severs, as an immediate database shutdown would. */
async function proxiedKnex() {
  const target = new URL(inject('pgAdminUrl'));
  const sockets: net.Socket[] = [];
  let paused = false;
  const proxy = net.createServer((client) => {
    if (paused) {
      // Accepted by the kernel, never answered.
      client.on('error', () => {});
      sockets.push(client);
      return;
    }
    const server = net.connect(Number(target.port), target.hostname);
    client.pipe(server).pipe(client);
    client.on('error', () => {});
    server.on('error', () => {});
    sockets.push(client, server);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const proxied = new URL(target);
  proxied.host = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
  const db = knex({ client: 'pg', connection: proxied.toString(), pool: { min: 0, max: 1 } });
  return {
    db,
    cut: () => {
      for (const s of sockets) s.destroy();
    },
    /** Stops the bytes both ways with the connections left open, as a paused (SIGSTOP) database does. */
    pause: () => {
      paused = true;
      for (const s of sockets) s.pause();
    },
    url: proxied.toString(),
    close: async () => {
      await db.destroy().catch(() => {});
      proxy.close();
    },
  };
}

describe('a dependency outage is the caller’s to retry', () => {
  it('answers 503 with Retry-After when the database refuses connections', async () => {
    const err = await errorOf({ host: '127.0.0.1', port: await freePort(), user: 'x', database: 'x' });
    const api = toApiError(err);
    expect(api?.status).toBe(503);
    expect(api?.headers['retry-after']).toBe('2');
    expect(api?.body().error.code).toBe('service_unavailable');
  });

  it('answers 503 when the server ends the backend under the request (admin shutdown, 57P01)', async () => {
    const url = inject('pgAdminUrl');
    const victim = new pg.Client({ connectionString: url });
    await victim.connect();
    const { rows } = await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const killer = new pg.Client({ connectionString: url });
    await killer.connect();
    victim.on('error', () => {});
    const pending = victim.query('SELECT pg_sleep(5)').catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    await killer.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    await killer.end();
    const err = await pending;
    await victim.end().catch(() => {});
    expect(toApiError(err)?.status).toBe(503);
  });

  it('answers 503 when the connection drops mid-query under knex (an immediate database shutdown)', async () => {
    const { db, cut, close } = await proxiedKnex();
    const pending = db.raw('SELECT pg_sleep(5)').catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    cut();
    const err = await pending;
    await close();
    expect(String((err as Error).message)).toMatch(/ - Connection terminated/);
    expect(toApiError(err)?.status).toBe(503);
  });

  it('answers 503 when the connection drops inside a transaction and its ROLLBACK cannot be sent', async () => {
    const { db, cut, close } = await proxiedKnex();
    const pending = db
      .transaction(async (trx) => {
        await trx.raw('SELECT 1');
        cut();
        await trx.raw('SELECT pg_sleep(5)');
      })
      .catch((e: unknown) => e);
    const err = await pending;
    await close();
    expect(String((err as Error).message)).toMatch(/Connection terminated|not queryable/);
    expect(toApiError(err)?.status).toBe(503);
  });

  it('answers 503 for the pool’s own words on a broken client (found by the fault suite: a deposit’s ROLLBACK)', () => {
    // pg refuses any statement on a client that has seen a connection error; knex prefixes the SQL.
    const err = new Error('ROLLBACK - Client has encountered a connection error and is not queryable');
    expect(toApiError(err)?.status).toBe(503);
    expect(toApiError(new Error('timeout exceeded when trying to connect'))?.status).toBe(503);
  });

  it('answers 503 when the database stops answering (paused, found by the long fault profile): the connect and the query time out', async () => {
    const { db, pause, url, close } = await proxiedKnex();
    try {
      const before = new pg.Client({ connectionString: url, query_timeout: 300 });
      await before.connect();
      pause();
      // A connection made before the pause: pg gives up on the answer at query_timeout.
      const readErr = await before.query('SELECT 1').then(() => null, (err: unknown) => err);
      expect(String((readErr as Error).message)).toBe('Query read timeout');
      expect(toApiError(readErr)?.status).toBe(503);
      await before.end().catch(() => {});
      // A new connection: pg gives up connecting at connectionTimeoutMillis.
      const connectErr = await errorOf({ connectionString: url, connectionTimeoutMillis: 300 });
      expect(String((connectErr as Error).message)).toBe('timeout expired');
      expect(toApiError(connectErr)?.status).toBe(503);
    } finally {
      await db.destroy().catch(() => {});
      await close();
    }
  });

  it('leaves a wrong statement a server error, so a bug is not passed off as an outage', async () => {
    const err = await errorOf({ connectionString: inject('pgAdminUrl') }, 'SELEC 1');
    expect(toApiError(err)).toBeNull();
  });
});
