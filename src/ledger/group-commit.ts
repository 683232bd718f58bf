import type { Knex } from 'knex';
import pg from 'pg';

export type Work<T> = (q: Knex) => Promise<T>;

export interface GroupCommitOptions {
  /** Parallel transactions. Accounts are partitioned over lanes, so lanes never wait on each other's row locks. */
  lanes: number;
  /** Most operations committed together. */
  maxBatch: number;
  /**
   * Longest a lane waits on one batch statement or one lone operation before it moves on to the
   * next (milliseconds, default 2000). See `Lane.drain` for what happens to the operations then.
   */
  deadlineMs?: number;
}

interface Item {
  partition: string;
  work: Work<unknown>;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Group commit for ledger operations. A durable commit costs one WAL flush (about 1–2 ms on
 * this kind of disk), and an account's row stays locked until its commit is flushed, so one
 * busy account could never exceed a few hundred operations per second one commit at a time.
 * Operations that arrive while a lane is committing are run together, in order of account id
 * (a stable lock order across processes), in one transaction, and acknowledged only after that
 * transaction commits. Each operation is still one idempotent statement:
 *  - a domain refusal (insufficient funds, a settled hold) is a result, not an abort;
 *  - any database error (a concurrent duplicate from another process, a deadlock, a lost
 *    connection during COMMIT) rolls the whole batch back and each operation is re-run on its
 *    own, which its idempotency key makes safe whether or not the batch had committed.
 */
export class GroupCommit {
  private readonly lanes: Lane[];

  constructor(db: Knex, opts: GroupCommitOptions) {
    this.lanes = Array.from({ length: opts.lanes }, () => new Lane(db, opts.maxBatch, opts.deadlineMs ?? 2_000));
  }

  run<T>(partition: string, work: Work<T>): Promise<T> {
    return this.lanes[hash(partition) % this.lanes.length]!.submit(partition, work) as Promise<T>;
  }
}

class Lane {
  private queue: Item[] = [];
  private busy = false;

  constructor(
    private readonly db: Knex,
    private readonly maxBatch: number,
    private readonly deadlineMs: number,
  ) {}

  submit(partition: string, work: Work<unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ partition, work, resolve, reject });
      if (!this.busy) void this.drain();
    });
  }

  /**
   * One hung connection (a row lock held elsewhere, a backend that stopped answering) must not
   * stall every account of the lane. So:
   *  - a batch transaction sets its own `statement_timeout` to the deadline: a statement that hangs
   *    is cancelled by the server, the batch rolls back (releasing its row locks) and takes the
   *    database-error path below;
   *  - an operation run on its own (a batch of one, or each operation of a batch that failed) runs
   *    outside the lane: the lane waits for it at most the deadline, then serves the next batch
   *    while the operation settles by itself (bounded by the connection's statement_timeout) and
   *    resolves its caller then.
   * Correctness does not depend on which of these happens: every operation is one idempotent
   * statement, acknowledged only after its own commit, so an operation re-run alone after its batch
   * rolled back is applied once, and operations of one account running concurrently off the lane
   * are exactly the case without group commit (conditional UPDATEs under the account's row lock).
   */
  private async drain() {
    this.busy = true;
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, this.maxBatch);
        if (batch.length === 1) {
          await this.atMostDeadline(runAlone(this.db, batch[0]!));
          continue;
        }
        batch.sort((a, b) => (a.partition < b.partition ? -1 : a.partition > b.partition ? 1 : 0));
        let outcomes: Outcome[];
        try {
          outcomes = await this.db.transaction(async (trx) => {
            await trx.raw(`set local statement_timeout = ${this.deadlineMs}`);
            const out: Outcome[] = [];
            for (const item of batch) {
              try {
                out.push({ ok: true, value: await item.work(trx) });
              } catch (error) {
                if (error instanceof pg.DatabaseError) throw error; // the transaction is aborted
                out.push({ ok: false, error });
              }
            }
            return out;
          });
        } catch {
          await this.atMostDeadline(Promise.all(batch.map((item) => runAlone(this.db, item))));
          continue;
        }
        batch.forEach((item, i) => {
          const o = outcomes[i]!;
          if (o.ok) item.resolve(o.value);
          else item.reject(o.error);
        });
      }
    } finally {
      this.busy = false;
    }
  }

  /** Waits for `work` (which settles its own callers and never rejects) or the deadline, whichever is first. */
  private async atMostDeadline(work: Promise<unknown>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.deadlineMs)))]);
    clearTimeout(timer);
  }
}

async function runAlone(db: Knex, item: Item) {
  try {
    item.resolve(await item.work(db));
  } catch (err) {
    item.reject(err);
  }
}

/** FNV-1a: cheap and stable, only used to spread accounts over lanes. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
