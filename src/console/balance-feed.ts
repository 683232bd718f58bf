import pg from 'pg';
import type { Knex } from 'knex';
import type { Logger } from 'pino';

/**
 * Live balances for the console without polling: one LISTEN connection per API process on
 * `balance_changed`, fed by the trigger on `accounts` (migration 0740) for the accounts this
 * process watches. Owner of `balance_watches`: a watch lasts WATCH_SECONDS and is renewed while a
 * browser is subscribed, so a process that dies stops costing NOTIFYs within that time.
 * A subscriber is told "changed", never the figures: it reads them from the ledger itself, so a
 * missed or coalesced notification cannot show a wrong balance, only a later one. After the
 * connection is lost and re-made every subscriber is told once, for what it may have missed.
 */
const WATCH_SECONDS = 90;
const RENEW_EVERY_MS = 30_000;
const RECONNECT_MS = 1_000;

type Listener = () => void;

export class BalanceFeed {
  private readonly listeners = new Map<string, Set<Listener>>();
  private client: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly db: Knex,
    private readonly databaseUrl: string,
    private readonly logger: Logger,
  ) {}

  /** Calls `onChange` whenever the account's balance or held amount changes; returns the unsubscribe. */
  async subscribe(accountId: string, onChange: Listener): Promise<() => void> {
    let set = this.listeners.get(accountId);
    if (!set) this.listeners.set(accountId, (set = new Set()));
    set.add(onChange);
    await this.ensureListening();
    await this.watch([accountId]);
    return () => {
      set!.delete(onChange);
      if (set!.size === 0) this.listeners.delete(accountId);
      if (this.listeners.size === 0) this.stopRenewing();
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopRenewing();
    this.listeners.clear();
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  private async watch(accountIds: string[]): Promise<void> {
    if (!accountIds.length) return;
    await this.db.raw(
      `INSERT INTO balance_watches (account_id, until)
       SELECT id, now() + make_interval(secs => ?) FROM unnest(?::text[]) AS id
       ON CONFLICT (account_id) DO UPDATE SET until = GREATEST(balance_watches.until, EXCLUDED.until)`,
      [WATCH_SECONDS, accountIds],
    );
    if (!this.renewTimer) {
      this.renewTimer = setInterval(() => {
        this.watch([...this.listeners.keys()]).catch((err) => this.logger.warn({ err }, 'could not renew balance watches'));
      }, RENEW_EVERY_MS);
      this.renewTimer.unref();
    }
  }

  private stopRenewing() {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = null;
  }

  private ensureListening(): Promise<void> {
    if (this.client) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => (this.connecting = null));
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl, keepAlive: true });
    client.on('notification', (msg) => this.dispatch(msg.payload ?? '*'));
    client.on('error', (err) => this.logger.warn({ err }, 'balance feed connection failed'));
    client.on('end', () => {
      if (this.client !== client) return;
      this.client = null;
      this.reconnectLater();
    });
    await client.connect();
    await client.query('LISTEN balance_changed');
    this.client = client;
  }

  private reconnectLater() {
    if (this.closed || this.listeners.size === 0) return;
    setTimeout(() => {
      if (this.closed || this.listeners.size === 0) return;
      this.ensureListening()
        .then(() => this.watch([...this.listeners.keys()]))
        .then(() => this.dispatch('*'))
        .catch((err) => {
          this.logger.warn({ err }, 'balance feed could not reconnect; retrying');
          this.reconnectLater();
        });
    }, RECONNECT_MS).unref();
  }

  private dispatch(payload: string) {
    const ids = payload === '*' ? [...this.listeners.keys()] : payload.split(',');
    for (const id of ids) {
      for (const listener of this.listeners.get(id) ?? []) {
        try {
          listener();
        } catch (err) {
          this.logger.warn({ err }, 'balance listener failed');
        }
      }
    }
  }
}
