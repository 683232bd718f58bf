import type { Topology } from './stack/topology.js';

/**
 * The faults, each injected under load. `inject` does what an outage and its operator would do
 * (kill, then restart; pause, then resume) and resolves once the broken part is back.
 */
export interface Scenario {
  name: string;
  what: string;
  /** Only in the long profile, or only when two of each role run. */
  longOnly?: boolean;
  inject(t: Topology, p: Profile): Promise<void>;
}

export interface Profile {
  name: 'short' | 'long';
  /** How long SIGSTOP pauses and provider misbehaviour last. */
  pauseMs: number;
  /** Kills per role in the two-and-two phase. */
  repeatedKills: number;
  /** Soak duration. */
  soakMs: number;
  concurrency: number;
}

export const PROFILES: Record<Profile['name'], Profile> = {
  short: { name: 'short', pauseMs: 8_000, repeatedKills: 2, soakMs: 60_000, concurrency: 8 },
  long: { name: 'long', pauseMs: 30_000, repeatedKills: 5, soakMs: 600_000, concurrency: 16 },
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const SCENARIOS: Scenario[] = [
  {
    name: 'api-sigkill',
    what: 'SIGKILL of the only API process mid-chat and mid-stream, then restart',
    async inject(t) {
      await t.apis[0]!.proc.kill();
      await t.apis[0]!.restart();
    },
  },
  {
    name: 'worker-sigkill',
    what: 'SIGKILL of the only worker mid-generation and mid-deposit, then restart',
    async inject(t) {
      await t.workers[0]!.proc.kill();
      await t.workers[0]!.restart();
    },
  },
  {
    name: 'postgres-immediate-restart',
    what: 'PostgreSQL stopped in immediate mode (every backend killed, WAL recovery) and started again',
    async inject(t) {
      await t.postgres.immediateRestart();
    },
  },
  {
    name: 'temporal-restart',
    what: 'The Temporal server SIGKILLed and started again',
    async inject(t) {
      await t.temporal.restart();
    },
  },
  {
    name: 'postgres-pause',
    what: 'PostgreSQL paused (SIGSTOP of every process, connections left open: a partition), then SIGCONT',
    async inject(t, p) {
      t.postgres.pause();
      await sleep(p.pauseMs);
      t.postgres.resume();
    },
  },
  {
    name: 'temporal-pause',
    what: 'The Temporal server paused (SIGSTOP), then SIGCONT',
    async inject(t, p) {
      t.temporal.proc.pause();
      await sleep(p.pauseMs);
      t.temporal.proc.resume();
    },
  },
  {
    name: 'upstream-reset-mid-stream',
    what: 'The chat upstream cuts every connection after its first bytes',
    async inject(t, p) {
      await t.providerFault('upstream', 'reset');
      await sleep(p.pauseMs);
      await t.providerFault('upstream', 'ok');
    },
  },
  {
    name: 'upstream-500',
    what: 'The chat upstream answers 500 to everything',
    async inject(t, p) {
      await t.providerFault('upstream', 'http500');
      await sleep(p.pauseMs);
      await t.providerFault('upstream', 'ok');
    },
  },
  {
    name: 'upstream-429',
    what: 'The chat upstream answers 429 with Retry-After',
    async inject(t, p) {
      await t.providerFault('upstream', 'http429');
      await sleep(p.pauseMs);
      await t.providerFault('upstream', 'ok');
    },
  },
  {
    name: 'upstream-hang',
    what: 'The chat upstream accepts connections and never answers',
    async inject(t, p) {
      await t.providerFault('upstream', 'hang');
      await sleep(p.pauseMs);
      await t.providerFault('upstream', 'ok');
    },
  },
  {
    name: 'gemini-loses-operations',
    what: 'Gemini answers 404 for every video operation it was asked about (lost operations)',
    async inject(t, p) {
      await t.providerFault('gemini', 'lose', '/operations/');
      await sleep(p.pauseMs);
      await t.providerFault('gemini', 'ok');
    },
  },
  {
    name: 'stripe-checkout-hangs',
    what: 'Stripe accepts the connection to open a checkout session and never answers',
    async inject(t, p) {
      await t.providerFault('stripe', 'hang', '^/v1/checkout/sessions$');
      await sleep(p.pauseMs);
      await t.providerFault('stripe', 'ok');
    },
  },
  {
    name: 'two-and-two-repeated-kills',
    what: 'Two API and two worker processes; one of each SIGKILLed and restarted repeatedly',
    async inject(t, p) {
      if (t.apis.length < 2) await t.addApi();
      if (t.workers.length < 2) await t.addWorker();
      for (let i = 0; i < p.repeatedKills; i++) {
        await Promise.all([t.apis[1]!.proc.kill(), t.workers[1]!.proc.kill()]);
        await Promise.all([t.apis[1]!.restart(), t.workers[1]!.restart()]);
        await sleep(2_000);
      }
    },
  },
];
