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
 * content type, and a body matching its schema; every operation documents its error shape as its
 * `default` answer (OpenAI's `{error: {message, type, code, param}}`; Anthropic's on the Messages
 * API), so an error body of another shape fails.
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
    // A key may change or revoke itself: once the fuzzer had set its own key to 1 request a minute and
    // no models, and 40 operations answered only 429 after it. test/http/hostile-input.property.test.ts
    // fuzzes those two operations instead.
    '--exclude-name-regex',
    '^[A-Z]+ /(webhooks|admin)/|^(PATCH|DELETE) /v1/keys/\\{id\\}$',
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
  const { operations, failures } = junitFindings(xml);
  let balancesChanged = 0;
  for (const [id, b] of after.balances) if (before.balances.get(id) !== b) balancesChanged++;
  return {
    budgetSeconds: opts.maxSeconds,
    seconds,
    operations,
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

/**
 * The operations schemathesis' JUnit report lists and the findings of each: a passing operation is
 * a self-closing `<testcase/>`, a failing one holds `<failure message="ST108">` and the text that
 * says what broke (its "- ST108 Response violates schema" line and the reason under it).
 */
export function junitFindings(xml: string): { operations: number; failures: FuzzResult['failures'] } {
  const failures: FuzzResult['failures'] = [];
  let operations = 0;
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    operations++;
    const name = /\bname="([^"]*)"/.exec(m[1]!)?.[1] ?? '?';
    for (const f of (m[3] ?? '').matchAll(/<(?:failure|error)\b[^>]*?message="([^"]*)"[^>]*>([\s\S]*?)<\/(?:failure|error)>/g)) {
      const lines = decode(f[2]!).split('\n').map((l) => l.trim()).filter(Boolean);
      const what = lines.findIndex((l) => l.startsWith('- '));
      const detail = what >= 0 ? [lines[what]!.slice(2), lines[what + 1]].filter(Boolean).join(': ') : lines[0];
      const code = decode(f[1]!);
      failures.push({ operation: decode(name), message: (detail?.startsWith(code) ? detail : [code, detail].filter(Boolean).join(' ')).slice(0, 300) });
    }
  }
  return { operations, failures };
}

function decode(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#10;/g, ' ').replace(/&amp;/g, '&');
}
