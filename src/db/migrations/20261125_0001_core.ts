import type { Knex } from 'knex';

/**
 * The money core. Invariants that can be stated per row live here as constraints, so a bug
 * elsewhere fails loudly instead of corrupting balances:
 *  - available (balance - held) never negative, held never negative;
 *  - ledger entries are append-only and each idempotency key is applied once;
 *  - a deposit is credited at most once, a hold is captured at most once.
 * The cross-table invariants (balance = Σ entries, held = Σ pending holds) are checked by reconcile.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE accounts (
      id          text PRIMARY KEY,
      name        text NOT NULL,
      email       text NOT NULL,
      balance     bigint NOT NULL DEFAULT 0,
      held        bigint NOT NULL DEFAULT 0,
      created_at  timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT held_not_negative CHECK (held >= 0),
      CONSTRAINT available_not_negative CHECK (balance - held >= 0)
    );

    CREATE TABLE api_keys (
      id            text PRIMARY KEY,
      account_id    text NOT NULL REFERENCES accounts(id),
      name          text NOT NULL,
      prefix        text NOT NULL,
      key_hash      text NOT NULL UNIQUE,
      created_at    timestamptz NOT NULL DEFAULT now(),
      last_used_at  timestamptz,
      revoked_at    timestamptz
    );
    CREATE INDEX api_keys_account ON api_keys (account_id);

    CREATE TABLE ledger_entries (
      id               bigserial PRIMARY KEY,
      account_id       text NOT NULL REFERENCES accounts(id),
      kind             text NOT NULL CHECK (kind IN ('deposit', 'usage', 'generation_capture', 'adjustment')),
      amount           bigint NOT NULL CHECK (amount <> 0),
      balance_after    bigint NOT NULL,
      idempotency_key  text NOT NULL UNIQUE,
      request_id       text,
      deposit_id       text,
      generation_id    text,
      hold_id          text,
      reason           text,
      actor            text,
      request_ids      text[],
      created_at       timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT deposits_are_credits CHECK (kind <> 'deposit' OR (amount > 0 AND deposit_id IS NOT NULL)),
      CONSTRAINT usage_is_debit CHECK (kind NOT IN ('usage', 'generation_capture') OR amount < 0)
    );
    CREATE INDEX ledger_entries_account ON ledger_entries (account_id, id);
    CREATE UNIQUE INDEX ledger_entries_one_credit_per_deposit ON ledger_entries (deposit_id) WHERE kind = 'deposit';
    CREATE UNIQUE INDEX ledger_entries_one_capture_per_hold ON ledger_entries (hold_id) WHERE hold_id IS NOT NULL;

    CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'ledger_entries is append-only (% refused)', TG_OP;
    END $$;
    CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
      FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();

    CREATE TABLE holds (
      id               text PRIMARY KEY,
      account_id       text NOT NULL REFERENCES accounts(id),
      amount           bigint NOT NULL CHECK (amount > 0),
      status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'captured', 'released', 'expired')),
      captured_amount  bigint,
      purpose          text NOT NULL,
      request_id       text,
      generation_id    text,
      idempotency_key  text NOT NULL UNIQUE,
      expires_at       timestamptz NOT NULL,
      created_at       timestamptz NOT NULL DEFAULT now(),
      settled_at       timestamptz,
      CONSTRAINT settled_iff_not_pending CHECK ((status = 'pending') = (settled_at IS NULL)),
      CONSTRAINT captured_within_hold CHECK (
        (status = 'captured' AND captured_amount > 0 AND captured_amount <= amount)
        OR (status <> 'captured' AND captured_amount IS NULL))
    );
    CREATE INDEX holds_pending_expiry ON holds (expires_at) WHERE status = 'pending';
    CREATE INDEX holds_account ON holds (account_id) WHERE status = 'pending';

    CREATE TABLE requests (
      id                   text PRIMARY KEY,
      account_id           text NOT NULL REFERENCES accounts(id),
      api_key_id           text,
      endpoint             text NOT NULL,
      model                text,
      status               text NOT NULL,
      http_status          integer,
      stream               boolean NOT NULL DEFAULT false,
      prompt_tokens        integer,
      completion_tokens    integer,
      total_tokens         integer,
      cost                 bigint NOT NULL DEFAULT 0,
      hold_id              text,
      error_code           text,
      upstream_latency_ms  integer,
      overhead_ms          integer,
      created_at           timestamptz NOT NULL DEFAULT now(),
      completed_at         timestamptz
    );
    CREATE INDEX requests_account_time ON requests (account_id, created_at DESC, id DESC);
    CREATE INDEX requests_account_model_time ON requests (account_id, model, created_at);

    CREATE TABLE deposits (
      id               text PRIMARY KEY,
      account_id       text NOT NULL REFERENCES accounts(id),
      method           text NOT NULL CHECK (method IN ('card', 'crypto')),
      amount           bigint NOT NULL CHECK (amount > 0),
      credited_amount  bigint,
      status           text NOT NULL,
      provider         text NOT NULL,
      provider_ref     text,
      checkout_url     text,
      network          text,
      expires_at       timestamptz,
      idempotency_key  text,
      created_at       timestamptz NOT NULL DEFAULT now(),
      updated_at       timestamptz NOT NULL DEFAULT now(),
      credited_at      timestamptz,
      UNIQUE (account_id, idempotency_key)
    );
    CREATE INDEX deposits_account_time ON deposits (account_id, created_at DESC);

    CREATE TABLE generations (
      id               text PRIMARY KEY,
      account_id       text NOT NULL REFERENCES accounts(id),
      api_key_id       text,
      kind             text NOT NULL CHECK (kind IN ('image', 'video')),
      model            text NOT NULL,
      prompt           text NOT NULL,
      params           jsonb NOT NULL DEFAULT '{}',
      status           text NOT NULL,
      progress         integer NOT NULL DEFAULT 0,
      hold_id          text,
      error_code       text,
      error_message    text,
      asset_key        text,
      asset_size       bigint,
      asset_sha256     text,
      content_type     text,
      idempotency_key  text,
      created_at       timestamptz NOT NULL DEFAULT now(),
      completed_at     timestamptz,
      deleted_at       timestamptz,
      UNIQUE (account_id, idempotency_key)
    );
    CREATE INDEX generations_account_time ON generations (account_id, created_at DESC);

    CREATE TABLE support_requests (
      id           text PRIMARY KEY,
      account_id   text NOT NULL REFERENCES accounts(id),
      kind         text NOT NULL,
      message      text NOT NULL,
      amount       bigint,
      request_ids  text[],
      status       text NOT NULL DEFAULT 'open',
      resolution   text,
      created_at   timestamptz NOT NULL DEFAULT now(),
      resolved_at  timestamptz
    );
    CREATE INDEX support_requests_status ON support_requests (status, created_at);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE support_requests, generations, deposits, requests, holds, ledger_entries, api_keys, accounts;
    DROP FUNCTION ledger_entries_append_only();
  `);
}
