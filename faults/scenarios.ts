import type { FaultMode } from './provider-faults.js';
import type { ProviderKind, Role, Topology } from './stack/topology.js';

/**
 * The faults, each injected under load. `inject` does what an outage and its operator would do
 * (kill, then restart; pause, then resume) and resolves once the broken part is back.
 */
export interface Scenario {
  name: string;
  what: string;
  /** Only in the long profile, or only when two of each role run. */
  longOnly?: boolean;
  /** Set-up before the strike (not counted in the recovery time), e.g. starting the second API and worker. */
  prepare?(t: Topology, p: Profile): Promise<void>;
  inject(t: Topology, p: Profile): Promise<void>;
}

export interface Profile {
  name: 'ci' | 'short' | 'long';
  /** How long SIGSTOP pauses and provider misbehaviour last. */
  pauseMs: number;
  /** Kills per role in the two-and-two phase. */
  repeatedKills: number;
  /** Soak duration. */
  soakMs: number;
  concurrency: number;
  /** schemathesis' time budget (--max-time). */
  fuzzSeconds: number;
  /** Load alone after each recovery, before the next fault, so the faults' windows do not overlap. */
  settleMs: number;
  /** How long the service may take to serve again after a fault (stretched by the machine's load, at most 8×). */
  recoverWithinMs: number;
}

export const PROFILES: Record<Profile['name'], Profile> = {
  // What CI runs after `npm test` (README "Faults under load" has its wall time): every fault once
  // with short pauses, one repeated kill, the storm, a 1-minute soak, schemathesis for 30 s.
  ci: { name: 'ci', pauseMs: 3_000, repeatedKills: 1, soakMs: 60_000, concurrency: 6, fuzzSeconds: 30, settleMs: 1_000, recoverWithinMs: 120_000 },
  // The figures of RELIABILITY.md: every fault once, one repeated kill, a 1-minute soak.
  short: { name: 'short', pauseMs: 5_000, repeatedKills: 1, soakMs: 60_000, concurrency: 8, fuzzSeconds: 60, settleMs: 3_000, recoverWithinMs: 180_000 },
  long: { name: 'long', pauseMs: 30_000, repeatedKills: 5, soakMs: 600_000, concurrency: 16, fuzzSeconds: 600, settleMs: 3_000, recoverWithinMs: 180_000 },
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A role's only process SIGKILLed (a crash), then restarted as its supervisor would. */
function killAndRestart(name: string, what: string, role: (t: Topology) => Role): Scenario {
  return {
    name,
    what,
    async inject(t) {
      await role(t).proc.kill();
      await role(t).restart();
    },
  };
}

/** A dependency paused (SIGSTOP: connections stay open, nothing answers, as in a partition) for the profile's pause. */
function paused(name: string, what: string, pause: (t: Topology) => void, resume: (t: Topology) => void): Scenario {
  return {
    name,
    what,
    async inject(t, p) {
      pause(t);
      await sleep(p.pauseMs);
      resume(t);
    },
  };
}

/** A provider misbehaving in `mode` (see provider-faults.ts) for the profile's pause, then well again. */
function misbehaving(name: string, what: string, kind: ProviderKind, mode: FaultMode, pathPattern?: string): Scenario {
  return {
    name,
    what,
    async inject(t, p) {
      await t.providerFault(kind, mode, pathPattern);
      await sleep(p.pauseMs);
      await t.providerFault(kind, 'ok');
    },
  };
}

export const SCENARIOS: Scenario[] = [
  killAndRestart('api-sigkill', 'SIGKILL of the only API process mid-chat and mid-stream, then restart', (t) => t.apis[0]!),
  killAndRestart('worker-sigkill', 'SIGKILL of the only worker mid-generation and mid-deposit, then restart', (t) => t.workers[0]!),
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
  paused(
    'postgres-pause',
    'PostgreSQL paused (SIGSTOP of every process, connections left open: a partition), then SIGCONT',
    (t) => t.postgres.pause(),
    (t) => t.postgres.resume(),
  ),
  paused(
    'temporal-pause',
    'The Temporal server paused (SIGSTOP), then SIGCONT',
    (t) => t.temporal.proc.pause(),
    (t) => t.temporal.proc.resume(),
  ),
  misbehaving('upstream-reset-mid-stream', 'The chat upstream cuts every connection after its first bytes', 'upstream', 'reset'),
  misbehaving('upstream-500', 'The chat upstream answers 500 to everything', 'upstream', 'http500'),
  misbehaving('upstream-429', 'The chat upstream answers 429 with Retry-After', 'upstream', 'http429'),
  misbehaving('upstream-hang', 'The chat upstream accepts connections and never answers', 'upstream', 'hang'),
  misbehaving('gemini-loses-operations', 'Gemini answers 404 for every video operation it was asked about (lost operations)', 'gemini', 'lose', '/operations/'),
  misbehaving('stripe-checkout-hangs', 'Stripe accepts the connection to open a checkout session and never answers', 'stripe', 'hang', '^/v1/checkout/sessions$'),
  {
    name: 'two-and-two-repeated-kills',
    what: 'Two API and two worker processes; one of each SIGKILLed and restarted repeatedly',
    async prepare(t) {
      if (t.apis.length < 2) await t.addApi();
      if (t.workers.length < 2) await t.addWorker();
    },
    async inject(t, p) {
      for (let i = 0; i < p.repeatedKills; i++) {
        await Promise.all([t.apis[1]!.proc.kill(), t.workers[1]!.proc.kill()]);
        await Promise.all([t.apis[1]!.restart(), t.workers[1]!.restart()]);
        await sleep(2_000);
      }
    },
  },
];
