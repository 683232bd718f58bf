import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';
import { installSchemathesis } from '../src/launcher/schemathesis.js';
import { TOOLS_DIR } from '../src/launcher/stack.js';

export interface FuzzResult {
  budgetSeconds: number;
  seconds: number;
  operations: number;
  failures: { operation: string; message: string }[];
  exitCode: number | null;
  /** Ledger entries written and balances moved while the fuzzer ran: must both be 0. */
  ledgerEntriesWritten: number;
  balancesChanged: number;
}

/**
 * What schemathesis asserts of every answer: never a 5xx, a documented status with the documented
 * content type, and a body matching its schema; every operation documents the OpenAI error shape as
 * its `default` answer, so an error body that is not `{error: {message, type, code, param}}` fails.
 */
export const FUZZ_CHECKS = ['not_a_server_error', 'status_code_conformance', 'content_type_conformance', 'response_schema_conformance'];

/**
 * schemathesis against the running API's /openapi.json, within a time budget, with the key of an
 * account that holds no credit: whatever it sends, nothing may be charged. After the load has
 * drained nothing else moves money, so every balance and the ledger must be as they were.
 */
export async function fuzzOpenApi(opts: {
  url: string;
  adminToken: string;
  databaseUrl: string;
  dir: string;
  maxSeconds: number;
  logger: Logger;
}): Promise<FuzzResult> {
  const bin = installSchemathesis(TOOLS_DIR, (l) => opts.logger.info(l));
  const key = await emptyAccountKey(opts.url, opts.adminToken);
  // Fetched once here, so a slow first answer cannot fail the fuzzer's own 10 s schema load.
  const schema = path.join(opts.dir, 'openapi.json');
  fs.writeFileSync(schema, await (await fetch(`${opts.url}/openapi.json`, { signal: AbortSignal.timeout(60_000) })).text());
  const junit = path.join(opts.dir, 'schemathesis-junit.xml');
  const before = await books(opts.databaseUrl);
  const t0 = Date.now();
  opts.logger.info({ maxSeconds: opts.maxSeconds }, 'fuzzing /openapi.json with schemathesis');
  const args = [
    'run',
    schema,
    '--url',
    opts.url,
    '-H',
    `Authorization: Bearer ${key}`,
    '--checks',
    FUZZ_CHECKS.join(','),
    '--max-time',
    String(opts.maxSeconds),
    '--phases',
    'examples,coverage,fuzzing',
    // Webhooks are signed by the providers (the storm covers them); admin routes need the admin token.
    '--exclude-path-regex',
    '^/(webhooks|admin)/',
    '--request-timeout',
    '30',
    '--workers',
    '2',
    '--seed',
    '1',
    '--suppress-health-check',
    'all',
    '--report',
    'junit',
    '--report-junit-path',
    junit,
  ];
  // --max-time bounds the fuzzing phases; the kill is the suite's own bound should it not be kept.
  const exitCode = await run(bin, args, path.join(opts.dir, 'schemathesis.log'), (opts.maxSeconds + 180) * 1000);
  const seconds = Math.round((Date.now() - t0) / 1000);
  const after = await books(opts.databaseUrl);
  const xml = fs.existsSync(junit) ? fs.readFileSync(junit, 'utf8') : '';
  const failures: FuzzResult['failures'] = [];
  for (const m of xml.matchAll(/<testcase[^>]*name="([^"]*)"[^>]*>([\s\S]*?)<\/testcase>/g)) {
    const f = /<(failure|error)[^>]*message="([^"]*)"/.exec(m[2]!);
    if (f) failures.push({ operation: decode(m[1]!), message: decode(f[2]!).slice(0, 300) });
  }
  let balancesChanged = 0;
  for (const [id, b] of after.balances) if (before.balances.get(id) !== b) balancesChanged++;
  return {
    budgetSeconds: opts.maxSeconds,
    seconds,
    operations: (xml.match(/<testcase/g) ?? []).length,
    failures,
    exitCode,
    ledgerEntriesWritten: after.entries - before.entries,
    balancesChanged,
  };
}

async function emptyAccountKey(url: string, adminToken: string): Promise<string> {
  const admin = async (p: string, body: unknown) => {
    const res = await fetch(url + p, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${p}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<Record<string, string>>;
  };
  const account = await admin('/admin/accounts', { name: 'fuzzer (no credit)', email: 'fuzzer@example.com' });
  return (await admin(`/admin/accounts/${account.id}/keys`, { name: 'fuzzer' })).key!;
}

async function books(databaseUrl: string): Promise<{ entries: number; balances: Map<string, string> }> {
  const c = new pg.Client({ connectionString: databaseUrl });
  c.on('error', () => {});
  await c.connect();
  try {
    const entries = Number((await c.query('SELECT count(*)::bigint AS n FROM ledger_entries')).rows[0].n);
    const { rows } = await c.query<{ id: string; b: string }>("SELECT id, balance::text || '/' || held::text AS b FROM accounts");
    return { entries, balances: new Map(rows.map((r) => [r.id, r.b])) };
  } finally {
    await c.end();
  }
}

/** The fuzzer as a child process (not spawnSync: the suite's own timers and signal handlers keep running). */
function run(bin: string, args: string[], logFile: string, killAfterMs: number): Promise<number | null> {
  const log = fs.openSync(logFile, 'w');
  // Its working directory is the run's own: schemathesis keeps a cache folder there.
  const child = spawn(bin, args, { cwd: path.dirname(logFile), stdio: ['ignore', log, log], env: { ...process.env, SCHEMATHESIS_HOOKS: '' } });
  fs.closeSync(log);
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    }),
  );
}

function decode(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#10;/g, ' ').replace(/&amp;/g, '&');
}
