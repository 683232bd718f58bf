import { ModelNotAllowed } from './errors.js';

/**
 * What a customer decides about each API key, and the pure rules over it. Money is nano-dollars.
 * `spendLimit`/`limitReset` are enforced with holds (see key-budget.ts).
 */
export const LIMIT_RESETS = ['daily', 'weekly', 'monthly'] as const;
export type LimitReset = (typeof LIMIT_RESETS)[number];

export interface KeySettings {
  name: string;
  /** May create, change and delete the account's keys. */
  manage: boolean;
  spendLimit: bigint | null;
  limitReset: LimitReset | null;
  /** Catalog ids this key may use; null means every model. */
  models: string[] | null;
  rpm: number | null;
  tpm: number | null;
  expiresAt: Date | null;
}

export function isExpired(key: Pick<KeySettings, 'expiresAt'>, now: Date): boolean {
  return key.expiresAt !== null && key.expiresAt.getTime() <= now.getTime();
}

export function allowsModel(key: Pick<KeySettings, 'models'>, model: string): boolean {
  return key.models === null || key.models.includes(model);
}

/** The one check every model-using route makes: a key with an allow-list uses only those models. */
export function assertModelAllowed(key: Pick<KeySettings, 'models'> & { prefix: string }, model: string): void {
  if (!allowsModel(key, model)) throw new ModelNotAllowed(key.prefix, model, key.models ?? []);
}

/** A reason the settings cannot be stored, naming the field; null when they are consistent. */
export function settingsProblem(
  s: Pick<KeySettings, 'spendLimit' | 'limitReset' | 'models' | 'expiresAt'>,
  knownModel: (id: string) => boolean,
  now: Date,
): { message: string; param: string } | null {
  if (s.limitReset !== null && s.spendLimit === null) {
    return { param: 'limit_reset', message: 'limit_reset needs a limit_usd to reset.' };
  }
  const unknown = s.models?.find((m) => !knownModel(m));
  if (unknown !== undefined) return { param: 'models', message: `The model '${unknown}' does not exist. GET /v1/models lists them.` };
  if (s.expiresAt !== null && s.expiresAt.getTime() <= now.getTime()) {
    return { param: 'expires_at', message: 'expires_at must be in the future.' };
  }
  return null;
}

/**
 * Start of the current limit period in UTC: today at midnight, Monday of this week, the first of
 * this month (OpenRouter's daily/weekly/monthly usage windows).
 */
export function periodStart(reset: LimitReset, now: Date): Date {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const d = now.getUTCDate();
  if (reset === 'monthly') return new Date(Date.UTC(y, m, 1));
  if (reset === 'daily') return new Date(Date.UTC(y, m, d));
  const sinceMonday = (now.getUTCDay() + 6) % 7;
  return new Date(Date.UTC(y, m, d - sinceMonday));
}

/** When the current limit period ends and the next begins (UTC); null for a limit that never resets. */
export function nextPeriodStart(reset: LimitReset | null, now: Date): Date | null {
  if (reset === null) return null;
  const start = periodStart(reset, now);
  if (reset === 'daily') return new Date(start.getTime() + 86_400_000);
  if (reset === 'weekly') return new Date(start.getTime() + 7 * 86_400_000);
  return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
}
