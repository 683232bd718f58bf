import { EventEmitter } from 'node:events';
import type { Knex } from 'knex';
import pg from 'pg';
import type { Logger } from 'pino';

/** The channel the api_keys trigger announces a changed key's id on (see its migration). */
export const API_KEY_CHANGED = 'api_key_changed';
const RECONNECT_MS = 1_000;

/**
 * Listens for API key changes made by any process (PostgreSQL LISTEN on its own connection) and
 * emits `changed` with the key id; `live` says whether notifications are being received now.
 * While the connection is down, changes can be missed: `lost` is emitted when it drops and when it
 * comes back, so the cache forgets everything and falls back to its short TTL meanwhile.
 */
export class KeyChangeFeed extends EventEmitter<{ changed: [keyId: string]; lost: [] }> {
  private client: pg.Client | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  live = false;

  constructor(
    private readonly connection: string | pg.ClientConfig,
    private readonly logger: Logger,
  ) {
    super();
  }

  static forDb(db: Knex, logger: Logger): KeyChangeFeed {
    return new KeyChangeFeed(db.client.config.connection as string | pg.ClientConfig, logger);
  }

  /** Resolves once listening (or after the first failure, retrying in the background). */
  async start(): Promise<void> {
    const config = typeof this.connection === 'string' ? { connectionString: this.connection } : this.connection;
    const client = new pg.Client({ ...config, keepAlive: true });
    this.client = client;
    const down = (err?: unknown) => {
      if (this.client !== client) return;
      this.client = undefined;
      if (this.live) this.emit('lost');
      this.live = false;
      client.end().catch(() => {});
      if (this.closed) return;
      if (err) this.logger.warn({ err }, 'API key change feed lost; retrying (the key cache uses its short TTL meanwhile)');
      this.timer = setTimeout(() => void this.start(), RECONNECT_MS);
      this.timer.unref();
    };
    client.on('error', down);
    client.on('end', () => down());
    client.on('notification', (n) => {
      if (n.channel === API_KEY_CHANGED && n.payload) this.emit('changed', n.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${API_KEY_CHANGED}`);
      this.live = true;
      // Whatever changed while nobody listened is unknown: start clean.
      this.emit('lost');
    } catch (err) {
      down(err);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    this.live = false;
    await client?.end().catch(() => {});
  }
}
