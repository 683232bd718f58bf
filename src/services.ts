import { Client, Connection } from '@temporalio/client';
import pino, { type Logger } from 'pino';
import { ApiKeyResolver } from './accounts/key-cache.js';
import { KeyChangeFeed } from './accounts/key-changes.js';
import { AccountRepository } from './accounts/repository.js';
import type { Config } from './config.js';
import { BalanceFeed } from './console/balance-feed.js';
import { ConsoleUsers } from './console/console-users.js';
import type { LinkMail } from './console/link-mail.js';
import { DEFAULT_POLICY, type SignInDeps } from './console/sign-in.js';
import { createMailer } from './mail/mailer.js';
import { LastUsedRecorder } from './keys/last-used.js';
import { TokenRecorder } from './keys/token-usage.js';
import { RequestRateLimiter } from './keys/rate-limit.js';
import { createDb, type Db } from './db/connection.js';
import { createMetrics, type Metrics } from './http/metrics.js';
import { PostgresLedger } from './ledger/index.js';
import { OwedLedger } from './ledger/owed.js';
import { ProcessLease } from './ledger/process-lease.js';
import { ChatAllowances } from './chat/chat-allowances.js';
import { createPayments, type Payments } from './payments/payment-services.js';
import { defaultCatalog, type Catalog } from './pricing/catalog.js';
import { configuredChatUpstream, type ConfiguredChatUpstream } from './providers/chat/configured-upstream.js';
import { createMediaServices, type MediaServices } from './providers/media/media-services.js';
import { createAssetLinks, type AssetLinks, type AssetUrlSigner } from './storage/signed-url.js';
import { createSandboxes, type Sandboxes } from './sandboxes/index.js';
import { temporalConnectionOptions, type TemporalConnectionOptions } from './temporal/connection-options.js';
import { settleCallContext } from './temporal/call-deadline.js';

/**
 * Everything a route or an activity talks to, built once per process from the validated config
 * and the addresses the launcher resolved (embedded or configured). Tests build the same thing
 * against their own servers.
 */
export interface Services extends ConfiguredChatUpstream, MediaServices {
  config: Config;
  /** Links customers can open without a key (response_format=url). */
  assetLinks: AssetLinks;
  /** Checks the links this service signs itself (served under /assets). */
  assetUrlSigner: AssetUrlSigner;
  logger: Logger;
  db: Db;
  ledger: PostgresLedger;
  /** Money owed beyond the balance (disputes, refunds), and deposits that pay it first. */
  owed: OwedLedger;
  /** This process's lease on the chat holds it places (taken on the first one). */
  holdLease: ProcessLease;
  /** This process's chat allowances, when CHAT_ALLOWANCES is on (see src/chat/chat-allowances.ts). */
  chatAllowances?: ChatAllowances;
  accounts: AccountRepository;
  apiKeys: ApiKeyResolver;
  /** API key changes announced by PostgreSQL, for the key cache of this process. */
  keyChanges: KeyChangeFeed;
  /** Per-key request and token counting shared across processes, and the batched last-used times. */
  keys: { rateLimiter: RequestRateLimiter; tokens: TokenRecorder; lastUsed: LastUsedRecorder };
  catalog: Catalog;
  /** Console sign-in (sessions, links, how links are mailed) and the live balance feed behind its event stream. */
  console: { users: ConsoleUsers; signIn: SignInDeps; mail: LinkMail; balances: BalanceFeed };
  metrics: Metrics;
  payments: Payments;
  /** The local stand-ins for parts without credentials (none in production unless SANDBOXES=1). */
  sandboxes: Sandboxes;
  adminToken: string;
  temporal: {
    address: string;
    /** Address plus TLS / API key: what the worker's NativeConnection needs too. */
    connectionOptions: TemporalConnectionOptions;
    connection: Connection;
    client: Client;
    namespace: string;
    taskQueue: string;
    /** Base URL of the Temporal Web UI, for deep links in ops views (never in customers' answers). */
    uiUrl?: string;
  };
}

export interface ResolvedEndpoints {
  databaseUrl: string;
  temporalAddress: string;
  temporalUiUrl?: string;
  adminToken: string;
}

export async function createServices(config: Config, endpoints: ResolvedEndpoints, logger?: Logger): Promise<Services> {
  const log = logger ?? createLogger(config);
  const db = createDb(endpoints.databaseUrl);
  const connectionOptions = temporalConnectionOptions(endpoints.temporalAddress, config.temporal);
  const connection = await Connection.connect(connectionOptions);
  settleCallContext(connection);
  const sandboxes = createSandboxes(config);
  const media = createMediaServices(config, sandboxes.connections.media);
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const accounts = new AccountRepository(db);
  const keyChanges = KeyChangeFeed.forDb(db, log);
  await keyChanges.start();
  const consoleUsers = new ConsoleUsers(db);
  // Group commit: concurrent ledger operations share a WAL flush (see src/ledger/group-commit.ts).
  const ledger = new PostgresLedger(db, { groupCommit: { lanes: config.database.ledgerLanes, maxBatch: 64 }, logger: log });
  const holdLease = new ProcessLease(db, log, { ttlSeconds: config.chat.holdLeaseTtlSeconds });
  return {
    config,
    logger: log,
    db,
    ledger,
    owed: new OwedLedger(db),
    holdLease,
    ...(config.chat.allowances ? { chatAllowances: new ChatAllowances({ ledger, lease: holdLease, logger: log, idleMs: config.chat.allowanceIdleMs }) } : {}),
    accounts,
    apiKeys: new ApiKeyResolver(accounts, { changes: keyChanges }),
    keyChanges,
    keys: { rateLimiter: new RequestRateLimiter(db), tokens: new TokenRecorder(db, log), lastUsed: new LastUsedRecorder(db, log) },
    catalog: defaultCatalog(),
    console: {
      users: consoleUsers,
      signIn: {
        db,
        users: consoleUsers,
        accounts,
        policy: { ...DEFAULT_POLICY, signup: config.console.signup, sessionTtlSeconds: config.console.sessionTtlSeconds },
      },
      mail: { mailer: config.mail ? createMailer(config.mail) : undefined, publicUrl: config.publicUrl, logger: log },
      balances: new BalanceFeed(db, endpoints.databaseUrl, log),
    },
    ...configuredChatUpstream(config, sandboxes.connections.chat),
    ...media,
    ...createAssetLinks(config, media.assets, endpoints.adminToken),
    metrics: createMetrics(),
    payments: createPayments(config, db, sandboxes.connections),
    sandboxes,
    adminToken: endpoints.adminToken,
    temporal: {
      address: endpoints.temporalAddress,
      connectionOptions,
      connection,
      client,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      uiUrl: config.temporal.uiUrl ?? endpoints.temporalUiUrl,
    },
  };
}

export async function closeServices(s: Services): Promise<void> {
  await s.sandboxes.close();
  await s.keys.lastUsed.close();
  await s.keys.tokens.close();
  await s.keyChanges.close();
  await s.console.balances.close();
  s.console.mail.mailer?.close();
  await s.chatAllowances?.close().catch((err) => s.logger.warn({ err }, 'could not give the chat allowances back'));
  await s.holdLease.end().catch((err) => s.logger.warn({ err }, 'could not end the process lease'));
  await s.temporal.connection.close();
  await s.ledger.close();
  await s.db.destroy();
}

export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({
    level: config.logLevel,
    // Defence in depth: even if a secret-bearing object is logged by mistake, these paths are masked.
    redact: {
      paths: ['*.authorization', '*.headers.authorization', '*.apiKey', '*.api_key', '*.key', '*.secret', '*.password', 'config.*.apiKey', 'config.*.secretKey'],
      censor: '[redacted]',
    },
  });
}
