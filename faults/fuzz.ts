import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { installSchemathesis } from '../src/launcher/schemathesis.js';
import { TOOLS_DIR } from '../src/launcher/stack.js';

export interface FuzzResult {
  operations: number;
  failures: { operation: string; message: string }[];
  exitCode: number | null;
}

/**
 * schemathesis against the running API's /openapi.json with a customer's key: every answer must be
 * a non-5xx, documented status with the documented content type. Positive cases may legitimately
 * charge; the books are reconciled after it.
 */
export async function fuzzOpenApi(opts: { url: string; key: string; dir: string; maxExamples: number; logger: Logger }): Promise<FuzzResult> {
  const bin = installSchemathesis(TOOLS_DIR, (l) => opts.logger.info(l));
  // Fetched once here, so a slow first answer cannot fail the fuzzer's own 10 s schema load.
  const schema = path.join(opts.dir, 'openapi.json');
  fs.writeFileSync(schema, await (await fetch(`${opts.url}/openapi.json`, { signal: AbortSignal.timeout(60_000) })).text());
  const junit = path.join(opts.dir, 'schemathesis-junit.xml');
  opts.logger.info('fuzzing /openapi.json with schemathesis');
  const r = spawnSync(
    bin,
    [
      'run',
      schema,
      '--url',
      opts.url,
      '-H',
      `Authorization: Bearer ${opts.key}`,
      '--checks',
      'not_a_server_error,status_code_conformance,content_type_conformance',
      '--max-examples',
      String(opts.maxExamples),
      '--phases',
      'examples,coverage,fuzzing',
      '--exclude-path-regex',
      '^/webhooks/',
      '--request-timeout',
      '30',
      '--workers',
      '2',
      '--seed',
      '1',
      '--report',
      'junit',
      '--report-junit-path',
      junit,
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, SCHEMATHESIS_HOOKS: '' } },
  );
  fs.writeFileSync(path.join(opts.dir, 'schemathesis.log'), `${r.stdout}\n${r.stderr}`);
  const xml = fs.existsSync(junit) ? fs.readFileSync(junit, 'utf8') : '';
  const failures: FuzzResult['failures'] = [];
  for (const m of xml.matchAll(/<testcase[^>]*name="([^"]*)"[^>]*>([\s\S]*?)<\/testcase>/g)) {
    const f = /<(failure|error)[^>]*message="([^"]*)"/.exec(m[2]!);
    if (f) failures.push({ operation: decode(m[1]!), message: decode(f[2]!).slice(0, 300) });
  }
  return { operations: (xml.match(/<testcase/g) ?? []).length, failures, exitCode: r.status };
}

function decode(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#10;/g, ' ').replace(/&amp;/g, '&');
}
