import type { Knex } from 'knex';

export type Work<T> = (q: Knex) => Promise<T>;

/**
 * Applies a batch of operations, ordered by partition, in one statement (one round trip, one
 * durable commit), resolving to one result per operation in the same order. Throws when the
 * statement failed as a whole (nothing of it was applied, or its commit is in doubt).
 */
export type ApplyBatch<Op, R> = (ops: Op[]) => Promise<R[]>;

export interface GroupCommitOptions {
  /** Parallel batches. Accounts are partitioned over lanes, so lanes never wait on each other's row locks. */
  lanes: number;
  /** Most operations committed together. */
  maxBatch: number;
  /**
   * Longest a lane waits on one batch statement or one lone operation before it moves on to the
   * next (milliseconds, default 2000). See `Lane.drain` for what happens to the operations then.
   */
  deadlineMs?: number;
}

type Item<Op, R> =
  | { partition: string; op: Op; resolve(v: R): void; reject(e: unknown): void }
  | { partition: string; work: Work<unknown>; resolve(v: unknown): void; reject(e: unknown): void };

/**
 * Group commit for ledger operations. A durable commit costs one WAL flush (about 1–2 ms on
 * this kind of disk), and an account's row stays locked until its commit is flushed, so one
 * busy account could never exceed a few hundred operations per second one commit at a time.
 * Operations that arrive while a lane is committing are applied together, in order of account id
 * (a stable lock order across processes), by one statement (`apply`), and acknowledged only after
 * that statement committed. Each operation is still one idempotent, conditional change:
 *  - a domain refusal (insufficient funds, a settled hold) is a result, not an abort;
 *  - any database error (a concurrent duplicate from another process, a deadlock, a lost
 *    connection during the commit) fails the whole statement, and each operation is re-run on its
 *    own, which its idempotency key makes safe whether or not the batch had committed.
 * Operations that are not batchable (`runAlone`: credits and debits, which are rare) share the lane
 * but run as their own statement.
 */
export class GroupCommit<Op, R> {
  private readonly lanes: Lane<Op, R>[];

  constructor(
    db: Knex,
    apply: ApplyBatch<Op, R>,
    opts: GroupCommitOptions,
  ) {
    this.lanes = Array.from({ length: opts.lanes }, () => new Lane(db, apply, opts.maxBatch, opts.deadlineMs ?? 2_000));
  }

  /** Applies `op` in the next batch of its partition's lane. */
  run(partition: string, op: Op): Promise<R> {
    return new Promise((resolve, reject) => this.laneOf(partition).submit({ partition, op, resolve, reject }));
  }

  /** Runs `work` as its own statement, on the lane of its partition (so it waits its turn with the batches). */
  runAlone<T>(partition: string, work: Work<T>): Promise<T> {
    return new Promise((resolve, reject) =>
      this.laneOf(partition).submit({ partition, work, resolve: resolve as (v: unknown) => void, reject }),
    );
  }

  private laneOf(partition: string): Lane<Op, R> {
    return this.lanes[hash(partition) % this.lanes.length]!;
  }
}

class Lane<Op, R> {
  private queue: Item<Op, R>[] = [];
  private busy = false;

  constructor(
    private readonly db: Knex,
    private readonly apply: ApplyBatch<Op, R>,
    private readonly maxBatch: number,
    private readonly deadlineMs: number,
  ) {}

  submit(item: Item<Op, R>): void {
    this.queue.push(item);
    if (!this.busy) void this.drain();
  }

  /**
   * One hung connection (a row lock held elsewhere, a backend that stopped answering) must not
   * stall every account of the lane. So the batch statement runs on a connection whose
   * `statement_timeout` is the deadline (a statement that hangs is cancelled by the server and its
   * operations re-run alone), and the lane waits for a batch and its re-runs at most the deadline,
   * then serves the next batch while they settle by themselves and resolve their callers then.
   * Correctness does not depend on which of these happens: every operation is one idempotent
   * statement, acknowledged only after its own commit, so an operation re-run alone after its batch
   * failed is applied once, and operations of one account running concurrently off the lane are
   * exactly the case without group commit (conditional UPDATEs under the account's row lock).
   *
   * After a batch of several operations the lane waits until the promise continuations it started
   * have run before it takes the next. Its callers submit their next operation from continuations
   * some microtasks deep; without the wait, the first of them found the lane free and went alone,
   * and the rest paid a flush of their own (32 callers ran batches of 31 and 1 in turn, for good).
   * The wait is for no I/O. After a lone operation there is no crowd to wait for, so one caller at
   * a time goes at once.
   */
  private async drain() {
    this.busy = true;
    try {
      do {
        const batch = this.queue.splice(0, this.maxBatch);
        const ops: Extract<Item<Op, R>, { op: Op }>[] = [];
        const tasks: Promise<void>[] = [];
        for (const item of batch) {
          if ('op' in item) ops.push(item);
          else tasks.push(settle(item, item.work(this.db)));
        }
        if (ops.length) {
          ops.sort((a, b) => (a.partition < b.partition ? -1 : a.partition > b.partition ? 1 : 0));
          tasks.push(this.applyBatch(ops));
        }
        await this.atMostDeadline(Promise.all(tasks));
        if (batch.length > 1) await afterContinuations();
      } while (this.queue.length);
    } finally {
      this.busy = false;
    }
  }

  /** Settles every caller of `ops`; never rejects. */
  private async applyBatch(ops: Extract<Item<Op, R>, { op: Op }>[]): Promise<void> {
    let results: R[];
    try {
      results = await this.apply(ops.map((i) => i.op));
    } catch (error) {
      if (ops.length === 1) return ops[0]!.reject(error);
      await Promise.all(ops.map((item) => settle(item, this.apply([item.op]).then((r) => r[0]!))));
      return;
    }
    ops.forEach((item, i) => item.resolve(results[i]!));
  }

  /** Waits for `work` (which settles its own callers and never rejects) or the deadline, whichever is first. */
  private async atMostDeadline(work: Promise<unknown>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.deadlineMs)))]);
    clearTimeout(timer);
  }
}

/**
 * Awaited from a promise continuation, resolves once every continuation queued so far, and every one
 * those queue in turn, has run: Node runs the `nextTick` queue after the microtask queue is empty.
 * No I/O is waited for.
 */
function afterContinuations(): Promise<void> {
  return new Promise((resolve) => process.nextTick(resolve));
}

async function settle<T>(item: { resolve(v: T): void; reject(e: unknown): void }, result: Promise<T>): Promise<void> {
  try {
    item.resolve(await result);
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
