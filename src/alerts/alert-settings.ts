/**
 * A customer's low-balance alert: where to POST (`billing_alerts`, owned here) and below what
 * available credit (the 'alert' threshold of balance-thresholds.ts). The signing secret is never
 * stored: it is derived from the install's key and a random nonce kept per account, so a database
 * dump signs nothing, every worker can sign, and deleting the alert retires the secret for good.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Config } from '../config.js';
import { clearThreshold, setThreshold, thresholdOf } from './balance-thresholds.js';
import { checkWebhookUrl, type WebhookUrlPolicy } from './webhook-url.js';

export interface AlertDeps {
  db: Knex;
  /** The install's key the per-account secrets are derived from. */
  signingKey: Buffer;
  policy: WebhookUrlPolicy;
}

export interface AlertSettings {
  threshold: bigint;
  webhookUrl: string;
  /** False from a crossing until a credit lifts available above the threshold again. */
  armed: boolean;
}

/** The deps from the config: ALERT_SECRET_KEY, or a key derived from the admin token like the asset links'. */
export function alertDeps(db: Knex, config: Pick<Config, 'alerts'>, adminToken: string): AlertDeps {
  const key = config.alerts.secretKey ?? createHash('sha256').update(`cheapa-alert-secrets:${adminToken}`).digest('hex');
  return { db, signingKey: Buffer.from(key, 'utf8'), policy: { allowPrivate: config.alerts.allowPrivateWebhooks } };
}

export const signingSecret = (deps: Pick<AlertDeps, 'signingKey'>, accountId: string, nonce: string): string =>
  `whsec_${createHmac('sha256', deps.signingKey).update(`${accountId}:${nonce}`).digest('base64url')}`;

/**
 * Sets the alert (threshold and URL; the threshold is armed again). The first call for an
 * account creates its secret and returns it: the only time it is shown. The URL is checked first,
 * so a refused one changes nothing.
 */
export async function putAlert(deps: AlertDeps, accountId: string, x: { threshold: bigint; webhookUrl: string }): Promise<{ settings: AlertSettings; secret: string | null }> {
  const webhookUrl = await checkWebhookUrl(x.webhookUrl, deps.policy);
  return deps.db.transaction(async (trx) => {
    const { rows } = await trx.raw(
      `INSERT INTO billing_alerts (account_id, webhook_url, secret_nonce) VALUES (?, ?, ?)
       ON CONFLICT (account_id) DO UPDATE SET webhook_url = EXCLUDED.webhook_url, updated_at = now()
       RETURNING secret_nonce, (xmax = 0) AS created`,
      [accountId, webhookUrl, randomBytes(16).toString('hex')],
    );
    await setThreshold(trx, accountId, 'alert', x.threshold);
    const row = rows[0] as { secret_nonce: string; created: boolean };
    return { settings: { threshold: x.threshold, webhookUrl, armed: true }, secret: row.created ? signingSecret(deps, accountId, row.secret_nonce) : null };
  });
}

export async function getAlert(db: Knex, accountId: string): Promise<AlertSettings | null> {
  const row = await db('billing_alerts').where({ account_id: accountId }).first('webhook_url');
  const threshold = row ? await thresholdOf(db, accountId, 'alert') : null;
  return row && threshold ? { threshold: threshold.threshold, webhookUrl: row.webhook_url as string, armed: threshold.armed } : null;
}

/** Forgets the alert and its secret (a later PUT shows a new one); false when there was none. */
export async function deleteAlert(db: Knex, accountId: string): Promise<boolean> {
  return db.transaction(async (trx) => {
    const deleted = await trx('billing_alerts').where({ account_id: accountId }).delete();
    await clearThreshold(trx, accountId, 'alert');
    return deleted > 0;
  });
}

/** Where and with what secret an account's alert is delivered now; null once it was deleted. */
export async function alertTarget(deps: Pick<AlertDeps, 'db' | 'signingKey'>, accountId: string): Promise<{ webhookUrl: string; secret: string } | null> {
  const row = await deps.db('billing_alerts').where({ account_id: accountId }).first('webhook_url', 'secret_nonce');
  return row ? { webhookUrl: row.webhook_url as string, secret: signingSecret(deps, accountId, row.secret_nonce as string) } : null;
}
