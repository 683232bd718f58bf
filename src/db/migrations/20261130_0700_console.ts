import type { Knex } from 'knex';

/**
 * Console sign-in (email and password; API keys are for the API only) and the live balance feed.
 * Secrets are stored as SHA-256 digests (session tokens, invitation and reset links) or scrypt
 * hashes (passwords), so a database dump signs no one in.
 *
 * The balance feed: a statement-level trigger on `accounts` notifies `balance_changed` with the
 * changed ids, but only for accounts someone is watching (`balance_watches`, kept fresh by the API
 * process that holds the browser's event stream). NOTIFY serialises the commits of notifying
 * transactions, so the billing hot path must not pay it for accounts no one is looking at.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE console_users (
      id             text PRIMARY KEY,
      account_id     text REFERENCES accounts(id),
      email          text NOT NULL,
      role           text NOT NULL CHECK (role IN ('customer', 'ops')),
      password_hash  text,
      created_at     timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT customers_have_an_account CHECK ((role = 'customer') = (account_id IS NOT NULL))
    );
    CREATE UNIQUE INDEX console_users_email ON console_users (lower(email));

    CREATE TABLE console_sessions (
      token_hash  text PRIMARY KEY,
      user_id     text NOT NULL REFERENCES console_users(id),
      csrf_token  text NOT NULL,
      created_at  timestamptz NOT NULL DEFAULT now(),
      expires_at  timestamptz NOT NULL,
      ended_at    timestamptz
    );
    CREATE INDEX console_sessions_user ON console_sessions (user_id);

    CREATE TABLE console_links (
      token_hash  text PRIMARY KEY,
      user_id     text NOT NULL REFERENCES console_users(id),
      purpose     text NOT NULL CHECK (purpose IN ('invitation', 'password_reset')),
      created_at  timestamptz NOT NULL DEFAULT now(),
      expires_at  timestamptz NOT NULL,
      used_at     timestamptz
    );
    CREATE INDEX console_links_user ON console_links (user_id);

    CREATE TABLE console_sign_in_failures (
      subject  text NOT NULL,
      at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX console_sign_in_failures_subject ON console_sign_in_failures (subject, at);

    CREATE TABLE balance_watches (
      account_id  text PRIMARY KEY REFERENCES accounts(id),
      until       timestamptz NOT NULL
    );

    CREATE FUNCTION notify_watched_balances() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE ids text;
    BEGIN
      SELECT string_agg(DISTINCT n.id, ',') INTO ids
        FROM changed_accounts n JOIN balance_watches w ON w.account_id = n.id
       WHERE w.until > now();
      IF ids IS NOT NULL THEN
        -- A payload is at most 8000 bytes; '*' asks listeners to re-read every account they watch.
        PERFORM pg_notify('balance_changed', CASE WHEN length(ids) > 7900 THEN '*' ELSE ids END);
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER accounts_notify_watched_balances AFTER UPDATE ON accounts
      REFERENCING NEW TABLE AS changed_accounts
      FOR EACH STATEMENT EXECUTE FUNCTION notify_watched_balances();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER accounts_notify_watched_balances ON accounts;
    DROP FUNCTION notify_watched_balances();
    DROP TABLE balance_watches, console_sign_in_failures, console_links, console_sessions, console_users;
  `);
}
