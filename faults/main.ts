/**
 * `npm run test:faults`: the production topology as separate processes, a mixed load, faults
 * injected under it, then the books held to what the clients saw. Writes RELIABILITY.md and
 * reliability.json; exits non-zero when anything that must hold did not.
 * FAULTS_PROFILE=long runs 30 s pauses, more kills and a 10-minute soak; FAULTS_PROFILE=ci is the
 * short run CI makes after `npm test`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { PROJECT_ROOT } from '../src/launcher/stack.js';
import { adminReconcile, checkLedger, runningWorkflows, sampleBalances } from './checks.js';
import { fuzzOpenApi } from './fuzz.js';
import { Load, type LoadAccount, usdToNano } from './load.js';
import { type FaultRow, summarise, writeReport, type SoakFigures } from './report.js';
import { PROFILES, SCENARIOS } from './scenarios.js';
import { soak } from './soak.js';
import { loadStretch } from './stack/process.js';
import { startTopology, type Topology } from './stack/topology.js';
import { webhookStorm } from './webhook-storm.js';

const chosen = PROFILES[(process.env.FAULTS_PROFILE ?? 'short') as keyof typeof PROFILES];
if (!chosen) throw new Error(`FAULTS_PROFILE must be one of ${Object.keys(PROFILES).join(', ')}`);
// FAULTS_SOAK_SECONDS shortens the soak while working on the suite itself.
const profile = { ...chosen, soakMs: process.env.FAULTS_SOAK_SECONDS ? Number(process.env.FAULTS_SOAK_SECONDS) * 1000 : chosen.soakMs };
const logger = pino({ level: process.env.FAULTS_LOG_LEVEL ?? 'info' }, pino.destination({ dest: 1, sync: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const only = process.env.FAULTS_ONLY?.split(',');
// RELIABILITY.md holds the short or long profile's figures; CI's shorter run reports beside the checkout, not over them.
const reportDir = process.env.FAULTS_REPORT_DIR ?? (profile.name === 'ci' ? path.join(os.tmpdir(), 'cheapa-faults-ci') : PROJECT_ROOT);

const startedAt = Date.now();

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-faults-'));
  logger.info({ dir, profile: profile.name }, 'starting the production topology');
  const t = await startTopology({ dir, logger, apis: 1, workers: 1 });
  // A crash of the suite itself must not leave the topology running.
  process.once('uncaughtException', (err) => {
    logger.fatal({ err }, 'fault suite crashed; stopping the topology');
    void t.stop().finally(() => process.exit(1));
  });
  // Ctrl-C (or CI's timeout) stops every process the suite started.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      logger.warn({ signal }, 'stopping the topology');
      void t.stop().finally(() => process.exit(130));
    });
  }
  let failed = true;
  try {
    failed = await run(t);
  } finally {
    await t.stop();
    if (!failed && !process.env.FAULTS_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    else logger.info({ dir }, 'logs kept');
  }
  process.exit(failed ? 1 : 0);
}

async function run(t: Topology): Promise<boolean> {
  const admin = (method: string, p: string, body?: unknown) =>
    fetch(t.url + p, { method, headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const accounts: LoadAccount[] = [];
  for (let i = 0; i < profile.concurrency + 1; i++) {
    const acct = (await (await admin('POST', '/admin/accounts', { name: `faults ${i}`, email: 'faults@example.com' })).json()) as { id: string };
    const key = (await (await admin('POST', `/admin/accounts/${acct.id}/keys`, { name: 'faults' })).json()) as { key: string };
    const credit = await admin('POST', `/admin/accounts/${acct.id}/adjustments`, { amount_usd: '1000.00', reason: 'fault suite credit' });
    if (credit.status !== 201) throw new Error(`credit: ${credit.status} ${await credit.text()}`);
    accounts.push({ id: acct.id, key: key.key });
  }
  const probe = accounts.pop()!;
  const model = (await (await fetch(`${t.url}/v1/models/gpt-5-mini`, { headers: { authorization: `Bearer ${probe.key}` } })).json()) as {
    pricing: { input_usd_per_million_tokens: string; output_usd_per_million_tokens: string };
  };
  const rates = { input: usdToNano(model.pricing.input_usd_per_million_tokens), output: usdToNano(model.pricing.output_usd_per_million_tokens) };

  const sampler = sampleBalances(t.postgres.url);
  // The machine is shared: the report states the load its figures were taken under.
  const loads: number[] = [os.loadavg()[0]!];
  const loadTimer = setInterval(() => loads.push(os.loadavg()[0]!), 10_000);
  const load = new Load({
    url: t.url,
    accounts,
    concurrency: profile.concurrency,
    providers: { stripe: t.providers.stripe.url, cryptomus: t.providers.cryptomus.url },
  });
  load.start();
  await sleep(5_000);

  const faults: FaultRow[] = [];
  for (const s of SCENARIOS.filter((s) => (!s.longOnly || profile.name === 'long') && (!only || only.includes(s.name)))) {
    let injectError: string | undefined;
    if (s.prepare) {
      logger.info({ fault: s.name }, 'preparing');
      await s.prepare(t, profile).catch((err) => {
        injectError = `preparing: ${String(err)}`;
        logger.error({ err, fault: s.name }, 'preparation failed');
      });
    }
    // Strike while chat streams and generations are in flight.
    for (let i = 0; i < 40 && !(load.snapshotInFlight().stream && (load.snapshotInFlight().image || load.snapshotInFlight().video)); i++) await sleep(50);
    const inFlight = load.snapshotInFlight();
    const t0 = Date.now();
    logger.info({ fault: s.name, inFlight }, 'injecting');
    await s.inject(t, profile).catch((err) => {
      injectError ??= String(err);
      logger.error({ err, fault: s.name }, 'injection failed');
    });
    const recoveredAt = await recovered(t.url, probe.key, Date.now(), profile.recoverWithinMs);
    logger.info({ fault: s.name, recoverMs: recoveredAt - t0 }, 'recovered');
    await sleep(profile.settleMs);
    faults.push({ name: s.name, what: s.what, t0, recoveredAt, end: Date.now(), inFlight, injectError });
  }

  const soakFigures: SoakFigures = await soak(t, load, profile, logger);
  const storm = await webhookStorm(t, probe, logger);

  logger.info('stopping the load and draining');
  await load.stop();
  await drain(t);
  const workflows = await waitForWorkflows(t, 180_000);
  const ledger = await checkLedger(t.postgres.url, load.records);
  await sampler.stop();
  clearInterval(loadTimer);
  const reconcile = await adminReconcile(t.url, t.adminToken);
  const fuzz = process.env.FAULTS_FUZZ === '0' ? undefined : await fuzzOpenApi({ url: t.url, adminToken: t.adminToken, databaseUrl: t.postgres.url, dir: t.dir, maxSeconds: profile.fuzzSeconds, logger });
  const reconcileAfterFuzz = await adminReconcile(t.url, t.adminToken);
  const upstream = (await (await fetch(`${t.providers.upstream.url}/_faults/stats`)).json()) as { completionTokens: number; unfinishedTokens: number };
  const billed = await billedCompletionTokens(t.postgres.url);

  const summary = summarise({
    profile,
    temporal: t.temporal.kind,
    records: load.records,
    faults,
    ledger,
    sampler,
    workflows,
    reconcile,
    reconcileAfterFuzz,
    fuzz,
    soak: soakFigures,
    storm,
    rates,
    upstreamTokens: upstream.completionTokens + upstream.unfinishedTokens,
    billedTokens: billed,
    durationSeconds: Math.round((Date.now() - startedAt) / 1000),
    processExits: t.unexpectedExits(),
    machineLoad: { cores: os.cpus().length, mean: loads.reduce((a, b) => a + b, 0) / loads.length, max: Math.max(...loads) },
  });
  fs.mkdirSync(reportDir, { recursive: true });
  writeReport(reportDir, summary);
  for (const f of summary.failures) logger.error(f);
  logger.info({ failures: summary.failures.length, ops: load.records.length, seconds: summary.durationSeconds, report: path.join(reportDir, 'RELIABILITY.md') }, 'fault suite finished');
  return summary.failures.length > 0;
}

/**
 * The service serves again: a chat completion succeeds and a video is accepted (its hold placed by
 * the worker through Temporal) through the balancer, within `withinMs` (stretched by the machine's
 * load) of the injection's end.
 */
async function recovered(url: string, key: string, from: number, withinMs: number): Promise<number> {
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  while (Date.now() - from < withinMs * loadStretch()) {
    try {
      const chat = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ model: 'gpt-5-mini', messages: [{ role: 'user', content: 'probe' }], max_tokens: 8 }),
        signal: AbortSignal.timeout(10_000),
      });
      await chat.arrayBuffer();
      if (chat.ok) {
        const video = await fetch(`${url}/v1/videos`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ model: 'veo-3.1', prompt: 'probe' }),
          signal: AbortSignal.timeout(30_000),
        });
        await video.arrayBuffer();
        if (video.ok) return Date.now();
      }
    } catch {
      /* still down */
    }
    await sleep(250);
  }
  return Number.NaN;
}

/** Checkouts no one paid are expired at the provider, as time would do, so every deposit workflow can end. */
async function drain(t: Topology) {
  const post = (u: string, body: unknown) => fetch(u, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const sessions = (await (await fetch(`${t.providers.stripe.url}/_sandbox/checkout/sessions`)).json()) as { data: { id: string; status: string }[] };
  for (const s of sessions.data.filter((s) => s.status === 'open')) await post(`${t.providers.stripe.url}/_sandbox/checkout/sessions/${s.id}/expire`, {});
  const invoices = (await (await fetch(`${t.providers.cryptomus.url}/_sandbox/invoices`)).json()) as { data: { uuid: string; is_final: boolean }[] };
  for (const i of invoices.data.filter((i) => !i.is_final)) await post(`${t.providers.cryptomus.url}/_sandbox/invoices/${i.uuid}/status`, { status: 'cancel' });
}

async function waitForWorkflows(t: Topology, timeoutMs: number) {
  const t0 = Date.now();
  let running = await runningWorkflows(t.temporal.address, 'default');
  while (running.deposit + running.generation > 0 && Date.now() - t0 < timeoutMs * loadStretch()) {
    await sleep(2_000);
    running = await runningWorkflows(t.temporal.address, 'default');
  }
  return running;
}

async function billedCompletionTokens(databaseUrl: string): Promise<number> {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: databaseUrl });
  c.on('error', () => {});
  await c.connect();
  try {
    const { rows } = await c.query('SELECT coalesce(sum(completion_tokens), 0)::bigint AS n FROM requests WHERE cost > 0');
    return Number(rows[0].n);
  } finally {
    await c.end();
  }
}

main().catch((err) => {
  logger.fatal({ err }, 'fault suite crashed');
  process.exit(1);
});
