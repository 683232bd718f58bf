import type { Knex } from 'knex';

/**
 * Every change to an API key that matters for authentication (revocation, expiry, allow-list,
 * limits: any column but last_used_at, so new columns are covered too) is announced on the
 * `api_key_changed` channel with the key's id, so every API process drops its cached copy at once
 * (src/accounts/key-changes.ts) and the cache TTL can be long. NOTIFY is delivered at commit.
 * A key's record carries its account's suspension (src/accounts/repository.ts findKeyByHash), so
 * suspending or reinstating an account announces each of its keys too. `UPDATE OF suspended_at`
 * fires only for statements that set that column: the ledger's updates of `accounts` never pay it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION api_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('api_key_changed', OLD.id);
      RETURN NULL;
    END $$;
    CREATE TRIGGER api_key_changed AFTER UPDATE ON api_keys FOR EACH ROW
      WHEN ((to_jsonb(OLD) - 'last_used_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_used_at'))
      EXECUTE FUNCTION api_key_changed();
    CREATE TRIGGER api_key_deleted AFTER DELETE ON api_keys FOR EACH ROW EXECUTE FUNCTION api_key_changed();

    CREATE FUNCTION account_standing_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('api_key_changed', k.id) FROM api_keys k WHERE k.account_id = NEW.id;
      RETURN NULL;
    END $$;
    CREATE TRIGGER account_standing_changed AFTER UPDATE OF suspended_at ON accounts FOR EACH ROW
      WHEN (OLD.suspended_at IS DISTINCT FROM NEW.suspended_at)
      EXECUTE FUNCTION account_standing_changed();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER account_standing_changed ON accounts;
    DROP FUNCTION account_standing_changed();
    DROP TRIGGER api_key_deleted ON api_keys;
    DROP TRIGGER api_key_changed ON api_keys;
    DROP FUNCTION api_key_changed();
  `);
}
