import type { Knex } from 'knex';

/**
 * Per-key spend limits, enforced with holds like the balance.
 *
 * A hold placed for a key that has a limit carries `holds.api_key_id`; holds of other keys leave it
 * NULL and pay nothing. `api_key_budgets` keeps one row per limited key: what it spent in the current
 * period (`period_start`, a UTC day/week-from-Monday/month, or -infinity for a limit that never
 * resets) and what its pending holds reserve. Two row triggers on `holds` keep it, so every
 * statement that places, captures, releases or expires a hold (whatever its shape: one hold or a
 * batch) moves the key's budget in the same statement and transaction:
 *  - placing: adds the hold to `held` and raises SQLSTATE CK402 when spent + held would pass the
 *    key's limit, which aborts the whole statement (the account's hold included);
 *  - settling (pending → captured/released/expired): frees the hold from `held` and adds what was
 *    captured to `spent`.
 * Both are AFTER triggers, which run at the end of the statement, after it has locked the account
 * row: the lock order is always account, then key budget, so concurrent holds and captures cannot
 * deadlock. A new period starts `spent` again at 0; holds still pending keep counting in `held`.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE holds ADD COLUMN api_key_id text;

    CREATE TABLE api_key_budgets (
      api_key_id    text PRIMARY KEY REFERENCES api_keys(id) ON DELETE CASCADE,
      period_start  timestamptz NOT NULL,
      spent         bigint NOT NULL DEFAULT 0 CHECK (spent >= 0),
      held          bigint NOT NULL DEFAULT 0 CHECK (held >= 0)
    );

    CREATE FUNCTION key_period_start(reset text, at timestamptz) RETURNS timestamptz
    LANGUAGE sql STABLE AS $$
      SELECT CASE reset
        WHEN 'daily' THEN date_trunc('day', at, 'UTC')
        WHEN 'weekly' THEN date_trunc('week', at, 'UTC')
        WHEN 'monthly' THEN date_trunc('month', at, 'UTC')
        ELSE '-infinity'::timestamptz END
    $$;

    CREATE FUNCTION key_budget_hold() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      lim bigint;
      rst text;
      p timestamptz;
      used bigint;
    BEGIN
      SELECT spend_limit, limit_reset INTO lim, rst FROM api_keys WHERE id = NEW.api_key_id;
      p := key_period_start(rst, now());
      INSERT INTO api_key_budgets AS b (api_key_id, period_start, spent, held)
      VALUES (NEW.api_key_id, p, 0, NEW.amount)
      ON CONFLICT (api_key_id) DO UPDATE SET
        spent = CASE WHEN b.period_start < p THEN 0 ELSE b.spent END,
        period_start = GREATEST(b.period_start, p),
        held = b.held + NEW.amount
      RETURNING b.spent + b.held INTO used;
      IF lim IS NOT NULL AND used > lim THEN
        RAISE EXCEPTION 'key spend limit exceeded' USING
          ERRCODE = 'CK402',
          DETAIL = format('%s %s %s', lim, used - NEW.amount, coalesce(rst, 'none'));
      END IF;
      RETURN NULL;
    END $$;

    CREATE FUNCTION key_budget_settle() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      p timestamptz;
    BEGIN
      p := key_period_start((SELECT limit_reset FROM api_keys WHERE id = NEW.api_key_id), now());
      UPDATE api_key_budgets b SET
        spent = CASE WHEN b.period_start < p THEN 0 ELSE b.spent END + coalesce(NEW.captured_amount, 0),
        period_start = GREATEST(b.period_start, p),
        held = b.held - NEW.amount
      WHERE b.api_key_id = NEW.api_key_id;
      RETURN NULL;
    END $$;

    CREATE TRIGGER holds_key_budget_place AFTER INSERT ON holds
      FOR EACH ROW WHEN (NEW.api_key_id IS NOT NULL) EXECUTE FUNCTION key_budget_hold();
    CREATE TRIGGER holds_key_budget_settle AFTER UPDATE OF status ON holds
      FOR EACH ROW WHEN (NEW.api_key_id IS NOT NULL AND OLD.status = 'pending' AND NEW.status <> 'pending')
      EXECUTE FUNCTION key_budget_settle();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER holds_key_budget_settle ON holds;
    DROP TRIGGER holds_key_budget_place ON holds;
    DROP FUNCTION key_budget_settle();
    DROP FUNCTION key_budget_hold();
    DROP FUNCTION key_period_start(text, timestamptz);
    DROP TABLE api_key_budgets;
    ALTER TABLE holds DROP COLUMN api_key_id;
  `);
}
