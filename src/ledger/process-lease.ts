import os from 'node:os';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { newId } from '../ids.js';

// A process that dies mid-request cannot release the holds of its in-flight requests. Each API
// process therefore keeps a lease row alive (renewed every third of its TTL) and stamps it on the
// holds it places; the hold sweeper releases the pending holds of a lease that has lapsed. This
// module owns the `process_leases` table.

export interface ProcessLeaseOptions {
  /** How long a lease outlives its last renewal; a dead process's holds are freed after this plus one sweep. */
  ttlSeconds: number;
}

export class ProcessLease {
  private current: Promise<string> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly db: Knex,
    private readonly logger: Logger,
    private readonly options: ProcessLeaseOptions,
  ) {}

  /** The lease to stamp on a new hold, taken on first use so that processes placing no holds keep none. */
  id(): Promise<string> {
    if (this.ended) return Promise.reject(new Error('the process lease has ended'));
    if (!this.current) {
      const taking = this.take();
      this.current = taking;
      // A failed first insert must not poison every later request: the next one tries again.
      taking.catch(() => {
        if (this.current === taking) this.current = undefined;
      });
    }
    return this.current;
  }

  /**
   * Ends the lease at once (a clean shutdown, after in-flight requests finished): whatever this
   * process still holds is then released by the next sweep rather than after the TTL.
   */
  async end(): Promise<void> {
    this.ended = true;
    clearInterval(this.timer);
    const id = await this.current?.catch(() => undefined);
    if (id) await this.db('process_leases').where('id', id).update({ expires_at: this.db.raw('renewed_at') });
  }

  /**
   * A statement found lease `id` lapsed before this process's renewal noticed (a stall past the TTL):
   * the next hold or allowance takes a fresh lease at once rather than at the next renewal.
   */
  async lapsed(id: string): Promise<void> {
    if (this.current && (await this.current.catch(() => undefined)) === id) {
      this.logger.error({ leaseId: id }, 'process lease found lapsed; taking a new one');
      clearInterval(this.timer);
      this.current = undefined;
    }
  }

  /** Stops renewing without ending the lease, as a crash would: for tests of the sweep. */
  abandon(): void {
    this.ended = true;
    clearInterval(this.timer);
  }

  private async take(): Promise<string> {
    const id = newId('lease');
    await this.db.raw(
      `INSERT INTO process_leases (id, host, pid, expires_at) VALUES (?, ?, ?, now() + make_interval(secs => ?))`,
      [id, os.hostname(), process.pid, this.options.ttlSeconds],
    );
    clearInterval(this.timer);
    this.timer = setInterval(() => void this.renew(id), (this.options.ttlSeconds * 1000) / 3);
    this.timer.unref();
    return id;
  }

  private async renew(id: string): Promise<void> {
    try {
      const renewed = await this.db('process_leases')
        .where('id', id)
        .andWhere('expires_at', '>', this.db.fn.now())
        .update({ renewed_at: this.db.fn.now(), expires_at: this.db.raw('now() + make_interval(secs => ?)', [this.options.ttlSeconds]) });
      if (renewed === 0 && !this.ended) {
        // This process stalled past its TTL and the sweeper may already have freed holds stamped
        // with the lease; new holds take a fresh one (their captures are unaffected).
        this.logger.error({ leaseId: id }, 'process lease lapsed before renewal; taking a new one');
        clearInterval(this.timer);
        if (this.current && (await this.current.catch(() => undefined)) === id) this.current = undefined;
      }
    } catch (err) {
      // Two misses in a row still leave a third chance before the lease lapses.
      this.logger.warn({ err, leaseId: id }, 'could not renew the process lease');
    }
  }
}

export interface LapsedHold {
  holdId: string;
  accountId: string;
}

/** Pending holds whose process lease has lapsed: their process is gone and will never settle them. */
export async function findHoldsOfLapsedLeases(db: Knex, limit: number): Promise<LapsedHold[]> {
  const { rows } = await db.raw(
    `SELECT h.id, h.account_id FROM holds h JOIN process_leases l ON l.id = h.lease_id
     WHERE h.status = 'pending' AND l.expires_at < now()
     ORDER BY h.created_at LIMIT ?`,
    [limit],
  );
  return rows.map((r: { id: string; account_id: string }) => ({ holdId: r.id, accountId: r.account_id }));
}
