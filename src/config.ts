import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { defaultCatalog } from './pricing/catalog.js';
import { loadProvidersFile, ProvidersFileError, type ProvidersFile } from './providers/routes-file.js';

/**
 * All configuration is read and validated here, once. Anything else receives a `Config`
 * and never reads process.env itself. An invalid value stops start-up with the variable's name.
 */

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const optionalUrl = optionalString.refine((v) => v === undefined || isHttpUrl(v), 'must be an http(s) URL');

function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

const port = (fallback: number) =>
  optionalString.transform((v, ctx) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) {
      ctx.addIssue({ code: 'custom', message: 'must be a port number 0-65535' });
      return z.NEVER;
    }
    return n;
  });

const seconds = (fallback: number) =>
  optionalString.transform((v, ctx) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) {
      ctx.addIssue({ code: 'custom', message: 'must be a whole number of seconds, at least 1' });
      return z.NEVER;
    }
    return n;
  });

const count = (fallback: number) =>
  optionalString.transform((v, ctx) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) {
      ctx.addIssue({ code: 'custom', message: 'must be a whole number, at least 1' });
      return z.NEVER;
    }
    return n;
  });

/** A whole number ≥ 1, or undefined when unset (the library's default applies). */
const optionalCount = optionalString.transform((v, ctx) => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    ctx.addIssue({ code: 'custom', message: 'must be a whole number, at least 1' });
    return z.NEVER;
  }
  return n;
});

/** Names Express (proxy-addr) knows for address ranges. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isAddressOrCidr(v: string): boolean {
  const [ip, bits, ...rest] = v.split('/');
  const family = net.isIP(ip ?? '');
  if (!family || rest.length) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d+$/.test(bits) && n <= (family === 4 ? 32 : 128);
}

/**
 * Which peers may tell us the client's address in X-Forwarded-For (Express's `trust proxy`):
 * `off`, a hop count, or a list of addresses, CIDRs and the names loopback/linklocal/uniquelocal.
 * `true` (trust anyone) is refused: any client could then claim any address.
 */
const trustProxy = optionalString.transform((v, ctx): false | number | string[] => {
  if (v === undefined) return ['loopback'];
  const lower = v.toLowerCase();
  if (lower === 'off' || lower === 'false' || lower === 'none' || lower === '0') return false;
  if (/^\d+$/.test(v)) return Number(v);
  const list = v.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = list.find((s) => !PROXY_RANGE_NAMES.has(s.toLowerCase()) && !isAddressOrCidr(s));
  if (bad !== undefined || list.length === 0) {
    ctx.addIssue({
      code: 'custom',
      message: `must be off, a hop count, or a comma-separated list of addresses, CIDRs, loopback, linklocal, uniquelocal${bad ? ` (not understood: '${bad}')` : ''}`,
    });
    return z.NEVER;
  }
  return list.map((s) => (PROXY_RANGE_NAMES.has(s.toLowerCase()) ? s.toLowerCase() : s));
});
const flag = optionalString.refine((v) => v === undefined || v === '0' || v === '1', 'must be 0 or 1');

const schema = z.object({
  NODE_ENV: optionalString,
  SANDBOXES: flag,
  HOST: optionalString,
  PAYMENT_METHODS: optionalString.transform((v, ctx) => {
    if (v === undefined) return [...DEPOSIT_METHODS];
    const methods = v === 'none' ? [] : v.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = methods.find((m) => !(DEPOSIT_METHODS as readonly string[]).includes(m));
    if (unknown !== undefined) {
      ctx.addIssue({ code: 'custom', message: `unknown method '${unknown}': use a comma-separated list of card, crypto (or none)` });
      return z.NEVER;
    }
    return [...new Set(methods)] as PaymentMethodName[];
  }),
  SANDBOX_URL: optionalUrl,
  PORT: port(8080),
  DATA_DIR: optionalString.transform((v) => path.resolve(v ?? '.data')),
  ADMIN_TOKEN: optionalString.refine((v) => v === undefined || v.length >= 16, 'must be at least 16 characters'),
  DATABASE_URL: optionalString.refine(
    (v) => v === undefined || /^postgres(ql)?:\/\//.test(v),
    'must be a postgres:// or postgresql:// URL',
  ),
  // Ledger batch statements in flight at once (group-commit lanes); see ledgerLanes below.
  LEDGER_LANES: optionalCount.refine((v) => v === undefined || v <= 64, 'must be at most 64'),
  TEMPORAL_ADDRESS: optionalString.refine((v) => v === undefined || /^[^\s:]+:\d+$/.test(v), 'must be host:port'),
  TEMPORAL_NAMESPACE: optionalString.transform((v) => v ?? 'default'),
  TEMPORAL_TASK_QUEUE: optionalString.transform((v) => v ?? 'cheapa'),
  TEMPORAL_UI_URL: optionalUrl,
  TEMPORAL_UI_PORT: port(8233),
  TEMPORAL_CLI: optionalString,
  TEMPORAL_TLS_CERT: optionalString,
  TEMPORAL_TLS_KEY: optionalString,
  TEMPORAL_TLS_CA: optionalString,
  TEMPORAL_TLS_SERVER_NAME: optionalString,
  TEMPORAL_API_KEY: optionalString,
  // Worker tuning (unset: the SDK's defaults) and the pre-built workflow bundle (BENCHMARKS.md measures them).
  TEMPORAL_WORKER_MAX_CACHED_WORKFLOWS: optionalCount,
  TEMPORAL_WORKER_WORKFLOW_TASK_SLOTS: optionalCount,
  TEMPORAL_WORKER_ACTIVITY_TASK_SLOTS: optionalCount,
  TEMPORAL_WORKER_LOCAL_ACTIVITY_SLOTS: optionalCount,
  TEMPORAL_WORKER_WORKFLOW_POLLERS: optionalCount,
  TEMPORAL_WORKER_ACTIVITY_POLLERS: optionalCount,
  WORKFLOW_BUNDLE: optionalString,
  UPSTREAM_BASE_URL: optionalUrl,
  UPSTREAM_API_KEY: optionalString,
  PROVIDERS_FILE: optionalString,
  CORS_ORIGINS: optionalString.transform((v, ctx) => {
    const origins = v === undefined ? [] : v.split(',').map((s) => s.trim().replace(/\/+$/, '')).filter(Boolean);
    for (const origin of origins) {
      if (origin !== '*' && !(isHttpUrl(origin) && new URL(origin).origin === origin)) {
        ctx.addIssue({ code: 'custom', message: `"${origin}" is not an origin like https://app.example.com (or *)` });
        return z.NEVER;
      }
    }
    return origins;
  }),
  GEMINI_BASE_URL: optionalUrl,
  GEMINI_API_KEY: optionalString,
  STRIPE_SECRET_KEY: optionalString,
  STRIPE_WEBHOOK_SECRET: optionalString,
  STRIPE_API_BASE: optionalUrl,
  CRYPTOMUS_MERCHANT_ID: optionalString,
  CRYPTOMUS_API_KEY: optionalString,
  CRYPTOMUS_BASE_URL: optionalUrl,
  CRYPTOMUS_WEBHOOK_IPS: optionalString.transform((v) =>
    v === undefined ? [] : v.split(',').map((s) => s.trim()).filter(Boolean),
  ),
  PUBLIC_URL: optionalUrl,
  TRUST_PROXY: trustProxy,
  // Deposits: how long a checkout stays payable, how often to poll for a lost webhook, how long a
  // payment already on its way at expiry is still awaited (seconds).
  DEPOSIT_CHECKOUT_TTL: seconds(3600),
  DEPOSIT_POLL_INTERVAL: seconds(30),
  DEPOSIT_SETTLE_GRACE: seconds(86_400),
  // Abuse limits per account: deposits waiting for payment (each one a provider checkout) and open
  // support requests; beyond them a request answers 429.
  DEPOSIT_MAX_OPEN: count(5),
  SUPPORT_MAX_OPEN: count(10),
  // Where a suspended account (a disputed or reversed payment) is told to write: its keys are blocked.
  SUPPORT_EMAIL: z.email().default('support@cheapa.example'),
  // Generations: how long an image / video may take before its hold is released, how often a video
  // job is polled (seconds); the embedded simulated Gemini's delays (milliseconds, 0 allowed).
  GENERATION_IMAGE_DEADLINE: seconds(600),
  GENERATION_VIDEO_DEADLINE: seconds(1200),
  GENERATION_POLL_INTERVAL: seconds(5),
  GENERATION_HOLD_WAIT: seconds(30),
  SIMULATED_IMAGE_DELAY_MS: seconds(1000).or(z.literal('0').transform(() => 0)),
  SIMULATED_VIDEO_DELAY_MS: seconds(3000).or(z.literal('0').transform(() => 0)),
  // Links to generated assets (response_format=url): the HMAC secret (default: derived from the admin
  // token, so every process of one install agrees) and how long a link stays valid (seconds).
  ASSET_URL_SECRET: optionalString.refine((v) => v === undefined || v.length >= 32, 'must be at least 32 characters'),
  ASSET_URL_TTL: seconds(3600).refine((v) => v <= 604_800, 'must be at most 604800 (7 days, the longest S3 pre-signed URL)'),
  // An S3-compatible bucket for generated assets instead of files under DATA_DIR.
  S3_ENDPOINT: optionalUrl,
  S3_BUCKET: optionalString,
  S3_REGION: optionalString,
  S3_ACCESS_KEY_ID: optionalString,
  S3_SECRET_ACCESS_KEY: optionalString,
  S3_FORCE_PATH_STYLE: optionalString.refine((v) => v === undefined || ['0', '1', 'true', 'false'].includes(v), 'must be 1/0 or true/false'),
  S3_PREFIX: optionalString.refine((v) => v === undefined || /^[A-Za-z0-9._\/-]{1,200}$/.test(v), 'must be letters, digits and . _ - /'),
  // Chat: how long the upstream is still read after the caller left, for its usage (seconds); the
  // lifetime of an API process's lease on its holds (seconds; renewed every third of it).
  CHAT_DRAIN_TIMEOUT: seconds(120),
  CHAT_HOLD_LEASE_TTL: seconds(30),
  // Chat: a request's worst case is taken from a per-process allowance on its account instead of a hold
  // row (src/chat/chat-allowances.ts; keys with a spend limit keep hold rows); 0 places a hold row for
  // every request. An idle account's allowance is given back this long after its last request (ms).
  CHAT_ALLOWANCES: flag,
  CHAT_ALLOWANCE_IDLE_MS: count(2000),
  // Console sign-in: whether anyone may create an account from the sign-in page (default: open in
  // development, closed in production, where ops invite), and how long a session lasts (seconds).
  CONSOLE_SIGNUP: optionalString.refine((v) => v === undefined || v === 'open' || v === 'closed', 'must be open or closed'),
  CONSOLE_SESSION_TTL: seconds(7 * 86_400),
  // Console mail (invitations, password resets): an SMTP server as smtp://user:password@host:587
  // (STARTTLS when offered) or smtps://…:465 (TLS from the start), and the sender. Unset: links
  // are handed to ops by the admin API, as before.
  SMTP_URL: optionalString.transform((v, ctx) => {
    if (v === undefined) return undefined;
    const smtp = parseSmtpUrl(v);
    // The message never repeats the value: it carries the SMTP password.
    if (!smtp) ctx.addIssue({ code: 'custom', message: 'must be smtp://[user:password@]host[:port] or smtps://…' });
    return smtp ?? z.NEVER;
  }),
  MAIL_FROM: optionalString.refine((v) => v === undefined || isMailbox(v), 'must be an email address, or a name and <address>'),
  // Low-balance alert webhooks: the key their per-account signing secrets are derived from (default:
  // derived from the admin token, so every process of one install agrees), and whether they may go
  // to http, loopback and private addresses (default: yes in development, never in production).
  ALERT_SECRET_KEY: optionalString.refine((v) => v === undefined || v.length >= 32, 'must be at least 32 characters'),
  ALERT_WEBHOOK_ALLOW_PRIVATE: flag,
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .optional()
    .transform((v) => v ?? 'info'),
});

type Raw = z.output<typeof schema>;

const DEPOSIT_METHODS = ['card', 'crypto'] as const;
type PaymentMethodName = (typeof DEPOSIT_METHODS)[number];

/**
 * Where each external part of the product comes from. `provider`: credentials are configured, the
 * real provider is used. `sandbox`: a local stand-in from src/sandboxes/ (development, or staging
 * with SANDBOXES=1). `disabled`: neither; requests that need the part are refused, never simulated.
 */
export type PartSource = 'provider' | 'sandbox' | 'disabled';
export type PartName = 'card' | 'crypto' | 'chat' | 'media';
export type Parts = Record<PartName, PartSource>;

export interface Config {
  /** NODE_ENV=production: no sandbox unless SANDBOXES=1; everything else is development. */
  mode: 'production' | 'development';
  /** Whether a part without credentials may be served by a sandbox, and whether SANDBOXES=1 said so. */
  sandboxes: { allowed: boolean; explicit: boolean; /** How a process reaches the sandboxes (another role's API in a split install). */ url: string };
  parts: Parts;
  /** The address the HTTP server binds to. */
  host: string;
  port: number;
  dataDir: string;
  /** Undefined means: generate one on first start and keep it under DATA_DIR. */
  adminToken?: string;
  logLevel: Raw['LOG_LEVEL'];
  database: {
    url?: string;
    /** Ledger batch statements in flight at once: the group commit's lanes (LEDGER_LANES). */
    ledgerLanes: number;
  };
  temporal: {
    address?: string;
    namespace: string;
    taskQueue: string;
    uiUrl?: string;
    uiPort: number;
    cli?: string;
    /** mTLS client certificate and key (file paths), optional CA and server name: a secured self-hosted cluster. */
    tls?: { certFile?: string; keyFile?: string; caFile?: string; serverName?: string };
    /** Temporal Cloud API key; implies TLS. */
    apiKey?: string;
    worker: WorkerTuning;
  };
  upstream: { baseUrl?: string; apiKey?: string };
  /** Browser origins allowed to call /v1 (CORS); `*` for any; empty for none. */
  corsOrigins: string[];
  /** Per-model routes (PROVIDERS_FILE); models it does not list fall to `upstream`, if set. */
  providers?: ProvidersFile;
  gemini: { baseUrl?: string; apiKey?: string };
  stripe: { secretKey?: string; webhookSecret?: string; apiBase?: string };
  cryptomus: { merchantId?: string; apiKey?: string; baseUrl?: string; webhookIps: string[] };
  assetUrls: { secret?: string; ttlSeconds: number };
  /** Set when generated assets go to an S3-compatible bucket rather than DATA_DIR/assets. */
  s3?: {
    endpoint?: string;
    bucket: string;
    region: string;
    accessKeyId?: string;
    secretAccessKey?: string;
    forcePathStyle: boolean;
    prefix?: string;
  };
  /** Express's `trust proxy`: whose X-Forwarded-For names the client (webhook IP allowlist, logs). */
  trustProxy: false | number | string[];
  /** Where webhooks and redirects reach this service; defaults to http://127.0.0.1:PORT. */
  publicUrl: string;
  deposits: { checkoutTtlSeconds: number; pollIntervalSeconds: number; settleGraceSeconds: number; maxOpenPerAccount: number };
  support: { maxOpenPerAccount: number; email: string };
  chat: {
    /** After the caller left, how long the upstream is still read so that its usage can be billed. */
    drainTimeoutSeconds: number;
    /** A dead API process's chat holds are released this long (plus one sweep) after its last renewal. */
    holdLeaseTtlSeconds: number;
    /** Chat requests hold from a per-process allowance rather than with a hold row each (CHAT_ALLOWANCES, on unless 0). */
    allowances: boolean;
    /** How long an idle account's allowance stays reserved after its last request (CHAT_ALLOWANCE_IDLE_MS). */
    allowanceIdleMs: number;
  };
  /** Set when SMTP_URL is: invitations and reset links are mailed rather than handed to ops. */
  mail?: { smtp: SmtpServer; from: string };
  console: {
    signup: 'open' | 'closed';
    sessionTtlSeconds: number;
    /** Session cookies are `Secure` when the service is reached over https. */
    secureCookies: boolean;
  };
  generations: {
    imageDeadlineSeconds: number;
    videoDeadlineSeconds: number;
    pollIntervalSeconds: number;
    /** How long a POST waits for Temporal to confirm the hold before answering 503 (and cancelling). */
    holdWaitSeconds: number;
    simulatedImageDelayMs: number;
    simulatedVideoDelayMs: number;
  };
  alerts: {
    /** The key per-account webhook signing secrets are derived from; unset: derived from the admin token. */
    secretKey?: string;
    /** http and non-public addresses allowed for customer webhooks (development only by default). */
    allowPrivateWebhooks: boolean;
  };
}

export interface SmtpServer {
  host: string;
  port: number;
  /** smtps: TLS from the first byte; smtp: plain, upgraded with STARTTLS when the server offers it. */
  secure: boolean;
  user?: string;
  password?: string;
}

function parseSmtpUrl(v: string): SmtpServer | null {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return null;
  }
  if ((u.protocol !== 'smtp:' && u.protocol !== 'smtps:') || !u.hostname || (u.pathname && u.pathname !== '/') || u.search || u.hash) return null;
  if (u.password && !u.username) return null;
  const secure = u.protocol === 'smtps:';
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : secure ? 465 : 587,
    secure,
    user: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
  };
}

/** `a@b.example` or `Name <a@b.example>`: what a From header may hold, with no line breaks. */
function isMailbox(v: string): boolean {
  const address = /^[^<>\r\n]*<([^<>\s]+)>$/.exec(v)?.[1] ?? v;
  return z.email().safeParse(address).success && !/[\r\n]/.test(v);
}

/** Each unset value leaves the Temporal SDK's default. */
export interface WorkerTuning {
  maxCachedWorkflows?: number;
  workflowTaskSlots?: number;
  activityTaskSlots?: number;
  localActivitySlots?: number;
  workflowPollers?: number;
  activityPollers?: number;
  /** A workflow bundle built ahead of time (`npm run build:workflows`); unset: the default path if it exists, else bundled at start. */
  bundlePath?: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(String(issue.path[0] ?? 'environment'), issue.message);
  }
  const e = parsed.data;
  requireBoth(e, 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET');
  requireBoth(e, 'CRYPTOMUS_MERCHANT_ID', 'CRYPTOMUS_API_KEY');
  requireBoth(e, 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY');
  if (!e.S3_BUCKET && (e.S3_ENDPOINT || e.S3_ACCESS_KEY_ID || e.S3_REGION || e.S3_PREFIX || e.S3_FORCE_PATH_STYLE)) {
    throw new ConfigError('S3_BUCKET', 'must be set when any other S3_ variable is');
  }
  requireBoth(e, 'TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY');
  const mode = e.NODE_ENV === 'production' ? 'production' : 'development';
  const explicit = e.SANDBOXES === '1';
  const allowed = mode === 'production' ? explicit : e.SANDBOXES !== '0';
  const parts = resolveParts(e, allowed);
  const host = e.HOST ?? (mode === 'production' ? '0.0.0.0' : '127.0.0.1');
  const publicUrl = (e.PUBLIC_URL ?? `http://127.0.0.1:${e.PORT}`).replace(/\/+$/, '');
  refuseExposedSandboxes(parts, explicit, host, publicUrl);
  const tlsSet = e.TEMPORAL_TLS_CERT || e.TEMPORAL_TLS_CA || e.TEMPORAL_TLS_SERVER_NAME;
  return {
    mode,
    sandboxes: { allowed, explicit, url: (e.SANDBOX_URL ?? `http://127.0.0.1:${e.PORT}`).replace(/\/+$/, '') },
    parts,
    host,
    port: e.PORT,
    dataDir: e.DATA_DIR,
    adminToken: e.ADMIN_TOKEN,
    logLevel: e.LOG_LEVEL,
    database: { url: e.DATABASE_URL, ledgerLanes: e.LEDGER_LANES ?? ledgerLanes(os.availableParallelism()) },
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      uiUrl: e.TEMPORAL_UI_URL?.replace(/\/+$/, ''),
      uiPort: e.TEMPORAL_UI_PORT,
      cli: e.TEMPORAL_CLI,
      tls: tlsSet
        ? { certFile: e.TEMPORAL_TLS_CERT, keyFile: e.TEMPORAL_TLS_KEY, caFile: e.TEMPORAL_TLS_CA, serverName: e.TEMPORAL_TLS_SERVER_NAME }
        : undefined,
      apiKey: e.TEMPORAL_API_KEY,
      worker: {
        maxCachedWorkflows: e.TEMPORAL_WORKER_MAX_CACHED_WORKFLOWS,
        workflowTaskSlots: e.TEMPORAL_WORKER_WORKFLOW_TASK_SLOTS,
        activityTaskSlots: e.TEMPORAL_WORKER_ACTIVITY_TASK_SLOTS,
        localActivitySlots: e.TEMPORAL_WORKER_LOCAL_ACTIVITY_SLOTS,
        workflowPollers: e.TEMPORAL_WORKER_WORKFLOW_POLLERS,
        activityPollers: e.TEMPORAL_WORKER_ACTIVITY_POLLERS,
        bundlePath: e.WORKFLOW_BUNDLE,
      },
    },
    upstream: { baseUrl: e.UPSTREAM_BASE_URL?.replace(/\/+$/, ''), apiKey: e.UPSTREAM_API_KEY },
    corsOrigins: e.CORS_ORIGINS,
    providers: e.PROVIDERS_FILE === undefined ? undefined : providersFile(e.PROVIDERS_FILE, env),
    gemini: { baseUrl: e.GEMINI_BASE_URL?.replace(/\/+$/, ''), apiKey: e.GEMINI_API_KEY },
    stripe: { secretKey: e.STRIPE_SECRET_KEY, webhookSecret: e.STRIPE_WEBHOOK_SECRET, apiBase: e.STRIPE_API_BASE },
    cryptomus: {
      merchantId: e.CRYPTOMUS_MERCHANT_ID,
      apiKey: e.CRYPTOMUS_API_KEY,
      baseUrl: e.CRYPTOMUS_BASE_URL?.replace(/\/+$/, ''),
      webhookIps: e.CRYPTOMUS_WEBHOOK_IPS,
    },
    assetUrls: { secret: e.ASSET_URL_SECRET, ttlSeconds: e.ASSET_URL_TTL },
    s3: e.S3_BUCKET
      ? {
          endpoint: e.S3_ENDPOINT?.replace(/\/+$/, ''),
          bucket: e.S3_BUCKET,
          region: e.S3_REGION ?? 'us-east-1',
          accessKeyId: e.S3_ACCESS_KEY_ID,
          secretAccessKey: e.S3_SECRET_ACCESS_KEY,
          // Most S3-compatible servers (MinIO, Ceph, a local endpoint) want the bucket in the path.
          forcePathStyle: e.S3_FORCE_PATH_STYLE === undefined ? Boolean(e.S3_ENDPOINT) : ['1', 'true'].includes(e.S3_FORCE_PATH_STYLE),
          prefix: e.S3_PREFIX,
        }
      : undefined,
    trustProxy: e.TRUST_PROXY,
    publicUrl,
    deposits: {
      checkoutTtlSeconds: e.DEPOSIT_CHECKOUT_TTL,
      pollIntervalSeconds: e.DEPOSIT_POLL_INTERVAL,
      settleGraceSeconds: e.DEPOSIT_SETTLE_GRACE,
      maxOpenPerAccount: e.DEPOSIT_MAX_OPEN,
    },
    support: { maxOpenPerAccount: e.SUPPORT_MAX_OPEN, email: e.SUPPORT_EMAIL },
    chat: { drainTimeoutSeconds: e.CHAT_DRAIN_TIMEOUT, holdLeaseTtlSeconds: e.CHAT_HOLD_LEASE_TTL, allowances: e.CHAT_ALLOWANCES !== '0', allowanceIdleMs: e.CHAT_ALLOWANCE_IDLE_MS },
    mail: e.SMTP_URL ? { smtp: e.SMTP_URL, from: e.MAIL_FROM ?? e.SUPPORT_EMAIL } : undefined,
    console: {
      signup: (e.CONSOLE_SIGNUP as 'open' | 'closed' | undefined) ?? (mode === 'production' ? 'closed' : 'open'),
      sessionTtlSeconds: e.CONSOLE_SESSION_TTL,
      secureCookies: publicUrl.startsWith('https://'),
    },
    alerts: {
      secretKey: e.ALERT_SECRET_KEY,
      allowPrivateWebhooks: e.ALERT_WEBHOOK_ALLOW_PRIVATE === undefined ? mode !== 'production' : e.ALERT_WEBHOOK_ALLOW_PRIVATE === '1',
    },
    generations: {
      imageDeadlineSeconds: e.GENERATION_IMAGE_DEADLINE,
      videoDeadlineSeconds: e.GENERATION_VIDEO_DEADLINE,
      pollIntervalSeconds: e.GENERATION_POLL_INTERVAL,
      holdWaitSeconds: e.GENERATION_HOLD_WAIT,
      simulatedImageDelayMs: e.SIMULATED_IMAGE_DELAY_MS,
      simulatedVideoDelayMs: e.SIMULATED_VIDEO_DELAY_MS,
    },
  };
}

function providersFile(file: string, env: NodeJS.ProcessEnv): ProvidersFile {
  const chatModels = new Set(defaultCatalog().models.filter((m) => m.kind === 'chat').map((m) => m.id));
  try {
    return loadProvidersFile(path.resolve(file), env, chatModels);
  } catch (error) {
    if (error instanceof ProvidersFileError) throw new ConfigError('PROVIDERS_FILE', error.message);
    throw error;
  }
}

/** A credential pair half-set is a mistake that would otherwise surface only at the first payment. */
function requireBoth(e: Raw, a: keyof Raw, b: keyof Raw) {
  if (Boolean(e[a]) !== Boolean(e[b])) {
    const missing = e[a] ? b : a;
    throw new ConfigError(String(missing), `must be set together with ${String(e[a] ? a : b)}`);
  }
}

/** Credentials decide; without them a part is a sandbox where allowed, otherwise disabled. */
function resolveParts(e: Raw, sandboxesAllowed: boolean): Parts {
  const source = (configured: boolean, wanted = true): PartSource =>
    !wanted ? 'disabled' : configured ? 'provider' : sandboxesAllowed ? 'sandbox' : 'disabled';
  return {
    card: source(Boolean(e.STRIPE_SECRET_KEY), e.PAYMENT_METHODS.includes('card')),
    crypto: source(Boolean(e.CRYPTOMUS_MERCHANT_ID), e.PAYMENT_METHODS.includes('crypto')),
    chat: source(Boolean(e.UPSTREAM_BASE_URL || e.PROVIDERS_FILE)),
    media: source(Boolean(e.GEMINI_API_KEY)),
  };
}

export function sandboxedParts(parts: Parts): PartName[] {
  return (Object.keys(parts) as PartName[]).filter((p) => parts[p] === 'sandbox');
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopback(hostname: string): boolean {
  return LOOPBACK.has(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/**
 * A sandbox "pays" for real credit: anyone who reaches it can top up for free. Reachable from
 * elsewhere only when an operator asked for it (a staging install, SANDBOXES=1).
 */
function refuseExposedSandboxes(parts: Parts, explicit: boolean, host: string, publicUrl: string) {
  const active = sandboxedParts(parts);
  if (!active.length || explicit) return;
  const exposed = !isLoopback(host) ? `HOST ${host}` : !isLoopback(new URL(publicUrl).hostname) ? `PUBLIC_URL ${publicUrl}` : undefined;
  if (!exposed) return;
  throw new ConfigError(
    'SANDBOXES',
    `sandboxes are active for ${active.join(', ')} and ${exposed} is not loopback: configure those providers' credentials, ` +
      'or set SANDBOXES=1 to run a staging install whose sandboxes anyone who reaches it can use',
  );
}

/**
 * The default number of group-commit lanes for a machine with `cores` cores. Each lane keeps one
 * batch statement in flight, and a statement's cost is CPU in its PostgreSQL backend, so lanes
 * beyond the cores the database can give them do not run in parallel: they only split the traffic
 * into smaller batches, each paying its own round trip, wake-ups and commit. The embedded database
 * shares its machine with the gateway, which needs about half of it, hence half the cores
 * (measured in BENCHMARKS.md: on 2 cores one lane serves 35-75 % more chat requests than eight).
 * A database server of its own wants about its own core count (LEDGER_LANES).
 */
export function ledgerLanes(cores: number): number {
  return Math.min(8, Math.max(1, Math.floor(cores / 2)));
}
