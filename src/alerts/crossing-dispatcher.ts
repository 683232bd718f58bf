/**
 * Drains the crossings outbox in every worker process: each crossing starts the workflow of its
 * purpose, under a workflow id named after the crossing, so a crossing started twice (two workers,
 * a retry after a lost acknowledgement) is still one run. Polling a small partial index every
 * second costs the database next to nothing and keeps the spending path free of any work.
 */
import type { Logger } from 'pino';
import type { Knex } from 'knex';
import { drainCrossings, type Crossing, type ThresholdPurpose } from './balance-thresholds.js';

const EVERY_MS = 1_000;

export type CrossingHandlers = Partial<Record<ThresholdPurpose, (c: Crossing) => Promise<void>>>;

export interface CrossingDispatcher {
  stop(): Promise<void>;
}

export function startCrossingDispatcher(db: Knex, handlers: CrossingHandlers, logger: Logger): CrossingDispatcher {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> = Promise.resolve();

  // A purpose without a handler in this build has nothing to start: its crossing is only recorded.
  const dispatch = async (c: Crossing) => {
    const handler = handlers[c.purpose];
    if (handler) await handler(c);
    else logger.warn({ accountId: c.accountId, purpose: c.purpose, seq: c.seq.toString() }, 'balance crossing without a handler');
  };
  const round = async () => {
    try {
      // A full batch means more may wait: go again at once.
      while (!stopped && (await drainCrossings(db, (c) => dispatch(c))) > 0);
    } catch (err) {
      logger.warn({ err }, 'balance crossings not dispatched; will try again');
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = round().finally(schedule);
    }, EVERY_MS);
    timer.unref();
  };
  schedule();

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
