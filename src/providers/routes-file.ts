import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/**
 * `PROVIDERS_FILE` (JSON, or YAML when the name ends in .yaml/.yml): which upstream serves each public model, and under which upstream id. Read and
 * checked once at start-up; a mistake stops the service with the file, the entry and the problem,
 * rather than surfacing as a failed request hours later. Prices stay in the catalog: a route only
 * says where a model is served.
 */

export type ProviderApi = 'openai' | 'anthropic';

export interface ProviderSpec {
  name: string;
  api: ProviderApi;
  baseUrl: string;
  apiKey?: string;
  /** Longest wait for the first byte, and longest silence inside a stream. */
  timeoutMs?: number;
  /** Speaks OpenAI's Responses API: POST /v1/responses is passed to it natively (src/responses/). */
  responses?: boolean;
}

export interface RouteSpec {
  provider: string;
  /** The model id the provider knows it by. */
  model: string;
}

export interface ProvidersFile {
  file: string;
  providers: ProviderSpec[];
  /** Public model id → its routes, in the order they are tried. */
  models: Record<string, RouteSpec[]>;
}

export class ProvidersFileError extends Error {
  readonly name = 'ProvidersFileError';
  constructor(
    readonly file: string,
    readonly entry: string,
    problem: string,
  ) {
    super(`${file}: ${entry}: ${problem}`);
  }
}

const httpUrl = z.string().refine((v) => {
  try {
    return ['http:', 'https:'].includes(new URL(v).protocol);
  } catch {
    return false;
  }
}, 'must be an http(s) URL');

const providerEntry = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be letters, digits, "_", "." or "-"'),
  api: z.enum(['openai', 'anthropic']),
  base_url: httpUrl,
  api_key_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional(),
  api_key: z.string().min(1).optional(),
  /** The provider also speaks OpenAI's Responses API (POST /v1/responses goes to it natively); chat still goes through chat completions. */
  responses: z.boolean().optional(),
  timeout_ms: z.number().int().min(100).max(3_600_000).optional(),
});

const routeEntry = z.strictObject({ provider: z.string().min(1), model: z.string().min(1) });

const fileShape = z.strictObject({
  providers: z.array(z.unknown()).min(1, 'must list at least one provider'),
  models: z.record(z.string(), z.unknown()),
});

/**
 * `chatModels` are the catalog's chat model ids: a route for anything else could never be used,
 * so it is refused rather than ignored.
 */
export function parseProvidersFile(file: string, text: string, env: NodeJS.ProcessEnv, chatModels: ReadonlySet<string>): ProvidersFile {
  const fail = (entry: string, problem: string) => new ProvidersFileError(file, entry, problem);
  const yaml = /\.ya?ml$/i.test(file);
  let json: unknown;
  try {
    // YAML's core schema: no custom tags, so a file cannot construct anything but plain data.
    json = yaml ? parseYaml(text, { schema: 'core', maxAliasCount: 100 }) : JSON.parse(text);
  } catch (error) {
    throw fail('(file)', `is not valid ${yaml ? 'YAML' : 'JSON'} (${(error as Error).message.split('\n')[0]})`);
  }
  const shape = fileShape.safeParse(json);
  if (!shape.success) throw fail(issuePath(shape.error.issues[0]!, '(top level)'), shape.error.issues[0]!.message);

  const providers: ProviderSpec[] = [];
  shape.data.providers.forEach((raw, i) => {
    const at = `providers[${i}]`;
    const parsed = providerEntry.safeParse(raw);
    if (!parsed.success) throw fail(`${at}${suffix(parsed.error.issues[0]!)}`, parsed.error.issues[0]!.message);
    const p = parsed.data;
    if (providers.some((other) => other.name === p.name)) throw fail(`${at}.name`, `"${p.name}" is used by an earlier provider`);
    if (p.api_key !== undefined && p.api_key_env !== undefined) throw fail(at, 'set api_key or api_key_env, not both');
    let apiKey = p.api_key;
    if (p.api_key_env !== undefined) {
      apiKey = env[p.api_key_env]?.trim();
      if (!apiKey) throw fail(`${at}.api_key_env`, `the environment variable ${p.api_key_env} is not set`);
    }
    providers.push({ name: p.name, api: p.api, baseUrl: p.base_url.replace(/\/+$/, ''), apiKey, timeoutMs: p.timeout_ms, ...(p.responses ? { responses: true } : {}) });
  });

  const models: Record<string, RouteSpec[]> = {};
  for (const [model, raw] of Object.entries(shape.data.models)) {
    const at = `models.${JSON.stringify(model)}`;
    if (!chatModels.has(model)) throw fail(at, 'is not a chat model of the catalog (GET /v1/models lists them)');
    const list = z.array(routeEntry).min(1, 'must list at least one route').safeParse(raw);
    if (!list.success) throw fail(`${at}${suffix(list.error.issues[0]!)}`, list.error.issues[0]!.message);
    list.data.forEach((route, i) => {
      if (!providers.some((p) => p.name === route.provider)) throw fail(`${at}[${i}].provider`, `no provider is named "${route.provider}"`);
    });
    models[model] = list.data;
  }
  return { file, providers, models };
}

export function loadProvidersFile(file: string, env: NodeJS.ProcessEnv, chatModels: ReadonlySet<string>): ProvidersFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ProvidersFileError(file, '(file)', `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return parseProvidersFile(file, text, env, chatModels);
}

function suffix(issue: z.core.$ZodIssue): string {
  return issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
}

function issuePath(issue: z.core.$ZodIssue, fallback: string): string {
  const s = suffix(issue);
  return s ? s.slice(1) : fallback;
}
