import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessLease } from '../../src/ledger/process-lease.js';
import { startHarness, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ worker: false });
});
afterAll(async () => {
  await h?.close();
});

const lease = () => new ProcessLease(h.services.db, pino({ level: 'silent' }), { ttlSeconds: 1 });
const row = (id: string) => h.services.db('process_leases').where({ id }).first();
const lapsed = async (id: string) => (await h.services.db.raw(`SELECT expires_at < now() AS lapsed FROM process_leases WHERE id = ?`, [id])).rows[0].lapsed as boolean;

async function until(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await condition()) return;
    await sleep(25);
  }
  throw new Error('condition never held');
}

describe('ProcessLease', () => {
  it('is taken once, on first use, and renewed while the process lives', async () => {
    const l = lease();
    const id = await l.id();
    expect(await l.id()).toBe(id);
    const first = await row(id);
    await until(async () => (await row(id)).renewed_at > first.renewed_at);
    expect((await row(id)).expires_at.getTime()).toBeGreaterThan(first.expires_at.getTime());
    expect(await lapsed(id)).toBe(false);
    await l.end();
  });

  it('after stalling past its TTL, takes a fresh lease rather than reviving the lapsed one', async () => {
    const l = lease();
    const id = await l.id();
    await h.services.db('process_leases').where({ id }).update({
      renewed_at: h.services.db.raw(`now() - interval '1 hour'`),
      expires_at: h.services.db.raw(`now() - interval '1 hour'`),
    });
    let next = id;
    await until(async () => (next = await l.id()) !== id);
    expect(await lapsed(id)).toBe(true);
    expect(await lapsed(next)).toBe(false);
    await l.end();
  });

  it('ends at once on a clean shutdown, and stops renewing when abandoned as by a crash', async () => {
    const ended = lease();
    const endedId = await ended.id();
    await ended.end();
    expect(await lapsed(endedId)).toBe(true);

    const crashed = lease();
    const crashedId = await crashed.id();
    crashed.abandon();
    await until(() => lapsed(crashedId));
  });
});
