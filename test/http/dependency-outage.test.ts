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

  it('leaves a wrong statement a server error, so a bug is not passed off as an outage', async () => {
    const err = await errorOf({ connectionString: inject('pgAdminUrl') }, 'SELEC 1');
    expect(toApiError(err)).toBeNull();
  });
});
