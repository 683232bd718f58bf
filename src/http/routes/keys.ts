import { Router } from 'express';
import { z } from 'zod';
import { createKey, deleteKey, listKeys, updateKey, type KeyManagementDeps } from '../../keys/key-management.js';
import { LIMIT_RESETS, type KeySettings } from '../../keys/key-settings.js';
import { budgetRemaining, keyBudget, keyBudgets, type KeyBudget } from '../../keys/key-budget.js';
import { keySpend } from '../../keys/key-spend.js';
import { creditTotals } from '../../ledger/credit-totals.js';
import { formatUsd, usdNumber } from '../../ledger/money.js';
import type { Services } from '../../services.js';
import { accountOf, authOf, keyManagerOf } from '../auth.js';
import { notFound } from '../errors.js';
import { instant } from '../instant-schema.js';
import { presentKey } from '../present.js';
import { defineRoute } from '../route.js';
import { usdAmount } from '../usd-schema.js';

const ENFORCEMENT_NOTE =
  'Enforced with holds: a request that could take the key past it answers 402 key_limit_exceeded while the account\u2019s other keys keep working';

const settingsFields = {
  name: z.string().trim().min(1).max(200),
  limit_usd: usdAmount
    .refine((v) => v >= 0n, 'must not be negative')
    .nullable()
    .describe(`Spend limit in USD (null: unlimited). ${ENFORCEMENT_NOTE}`),
  limit_reset: z.enum(LIMIT_RESETS).nullable().describe('When the limit starts again (UTC day, week from Monday, month); null: never'),
  models: z.array(z.string().min(1).max(200)).max(200).nullable().describe('Allow-list of catalog model ids; null: every model'),
  rpm: z.number().int().min(1).max(1_000_000).nullable().describe('Requests per minute over all /v1 routes; null: no limit'),
  tpm: z.number().int().min(1).max(1_000_000_000).nullable().describe('Tokens per minute (prompt + completion of the chat requests settled in the current minute, counted within about a second of settling); at or over it, 429 rate_limit_exceeded; null: no limit'),
  expires_at: instant.nullable().describe('After this time the key answers 401; null: never'),
  manage: z.boolean().describe('May list, create, change and delete the account\u2019s keys'),
};

const KeyCreate = z.strictObject({
  ...settingsFields,
  limit_usd: settingsFields.limit_usd.optional(),
  limit_reset: settingsFields.limit_reset.optional(),
  models: settingsFields.models.optional(),
  rpm: settingsFields.rpm.optional(),
  tpm: settingsFields.tpm.optional(),
  expires_at: settingsFields.expires_at.optional(),
  manage: settingsFields.manage.default(false),
});
const KeyUpdate = z.strictObject(settingsFields).partial();

const keyObject = z.object({
  id: z.string(),
  object: z.literal('api_key'),
  name: z.string(),
  prefix: z.string(),
  manage: z.boolean(),
  limit_usd: z.string().nullable().describe(`Exact USD. ${ENFORCEMENT_NOTE}`),
  limit_reset: z.enum(LIMIT_RESETS).nullable(),
  models: z.array(z.string()).nullable(),
  rpm: z.number().int().nullable(),
  tpm: z.number().int().nullable(),
  expires_at: z.number().int().nullable(),
  created_at: z.number().int(),
  last_used_at: z.number().int().nullable().describe('Updated every few seconds, not per request'),
  revoked_at: z.number().int().nullable(),
});

const keyWithBudget = keyObject.extend({
  limit_usage: z.string().nullable().describe('Exact USD charged to the key in its current limit period; null without a limit'),
  limit_remaining: z.string().nullable().describe('Exact USD left of the limit (less what requests in progress reserve); null without a limit'),
});
const NO_SPEND: KeyBudget = { spent: 0n, held: 0n };

type Body = z.output<typeof KeyUpdate>;

/** Request fields to settings; absent fields stay absent so a PATCH changes only what it names. */
function toSettings(b: Body): Partial<KeySettings> {
  const s: Partial<KeySettings> = {};
  if (b.name !== undefined) s.name = b.name;
  if (b.limit_usd !== undefined) s.spendLimit = b.limit_usd;
  if (b.limit_reset !== undefined) s.limitReset = b.limit_reset;
  if (b.models !== undefined) s.models = b.models === null ? null : [...new Set(b.models)];
  if (b.rpm !== undefined) s.rpm = b.rpm;
  if (b.tpm !== undefined) s.tpm = b.tpm;
  if (b.expires_at !== undefined) s.expiresAt = b.expires_at;
  if (b.manage !== undefined) s.manage = b.manage;
  return s;
}

/**
 * The customer's own keys (management keys only) and the OpenRouter-compatible reads that
 * balance-polling tools use: GET /v1/credits and GET /v1/key.
 */
export function keyRoutes(services: Services): Router {
  const router = Router();
  const deps: KeyManagementDeps = { accounts: services.accounts, catalog: services.catalog, db: services.db };
  const manageOnly = { 403: { description: 'permission_denied: the calling key was not created with manage: true' } };

  defineRoute(
    router,
    {
      method: 'get',
      path: '/v1/keys',
      summary: 'List the account\u2019s active API keys (management key only)',
      tag: 'keys',
      auth: 'api_key',
      responses: { 200: { description: 'Active keys, oldest first', schema: z.object({ object: z.literal('list'), data: z.array(keyWithBudget) }) }, ...manageOnly },
    },
    async (_input, _req, res) => {
      const keys = await listKeys(deps, keyManagerOf(res));
      const budgets = await keyBudgets(services.db, keys.filter((k) => k.spendLimit !== null).map((k) => k.id));
      res.json({
        object: 'list',
        data: keys.map((k) => {
          const budget = budgets.get(k.id) ?? NO_SPEND;
          const remaining = budgetRemaining(k, budget);
          return {
            ...presentKey(k),
            limit_usage: k.spendLimit === null ? null : formatUsd(budget.spent),
            limit_remaining: remaining === null ? null : formatUsd(remaining),
          };
        }),
      });
    },
  );

  defineRoute(
    router,
    {
      method: 'post',
      path: '/v1/keys',
      summary: 'Create an API key; the secret is in this answer only (management key only)',
      tag: 'keys',
      auth: 'api_key',
      body: KeyCreate,
      responses: { 201: { description: 'The new key with its secret `key`', schema: keyObject.extend({ key: z.string() }) }, ...manageOnly },
    },
    async ({ body }, _req, res) => {
      const settings = toSettings(body);
      const { record, key } = await createKey(deps, keyManagerOf(res), {
        name: body.name,
        manage: body.manage,
        spendLimit: settings.spendLimit ?? null,
        limitReset: settings.limitReset ?? null,
        models: settings.models ?? null,
        rpm: settings.rpm ?? null,
        tpm: settings.tpm ?? null,
        expiresAt: settings.expiresAt ?? null,
      });
      res.status(201).json({ ...presentKey(record), key });
    },
  );

  defineRoute(
    router,
    {
      method: 'patch',
      path: '/v1/keys/:id',
      summary: 'Change a key\u2019s name, limits, models, rpm/tpm, expiry or management right; null clears a setting',
      tag: 'keys',
      auth: 'api_key',
      body: KeyUpdate,
      responses: {
        200: { description: 'The key as changed', schema: keyObject },
        ...manageOnly,
        409: { description: 'last_management_key: the account must keep one active management key' },
      },
    },
    async ({ body, params }, _req, res) => {
      const record = await updateKey(deps, keyManagerOf(res), params.id!, toSettings(body));
      services.apiKeys.forget(record.id);
      res.json(presentKey(record));
    },
  );

  defineRoute(
    router,
    {
      method: 'delete',
      path: '/v1/keys/:id',
      summary: 'Revoke a key at once (it answers 401 from then on); a key may delete itself unless it is the last management key',
      tag: 'keys',
      auth: 'api_key',
      responses: {
        200: { description: 'The revoked key', schema: keyObject.extend({ deleted: z.literal(true) }) },
        ...manageOnly,
        409: { description: 'last_management_key: the account must keep one active management key' },
      },
    },
    async ({ params }, _req, res) => {
      const record = await deleteKey(deps, keyManagerOf(res), params.id!);
      services.apiKeys.forget(record.id);
      res.json({ ...presentKey(record), deleted: true });
    },
  );

  defineRoute(
    router,
    {
      method: 'get',
      path: '/v1/credits',
      summary: 'OpenRouter-compatible balance: total credits received and total used (USD); balance = total_credits \u2212 total_usage',
      tag: 'billing',
      auth: 'api_key',
      responses: {
        200: { description: 'The account\u2019s totals', schema: z.object({ data: z.object({ total_credits: z.number(), total_usage: z.number() }) }) },
      },
    },
    async (_input, _req, res) => {
      const totals = await creditTotals(services.db, accountOf(res));
      if (!totals) throw notFound('This API key\u2019s account no longer exists.');
      res.json({ data: { total_credits: usdNumber(totals.credits), total_usage: usdNumber(totals.usage) } });
    },
  );

  const usd = z.number().describe('USD');
  defineRoute(
    router,
    {
      method: 'get',
      path: '/v1/key',
      summary: 'OpenRouter-compatible read of the calling key: its limit, usage (all time, UTC day, week, month) and what remains',
      tag: 'keys',
      auth: 'api_key',
      responses: {
        200: {
          description: 'The calling key (nulls where it is unlimited)',
          schema: z.object({
            data: z.object({
              label: z.string(),
              limit: usd.nullable().describe(ENFORCEMENT_NOTE),
              limit_reset: z.enum(LIMIT_RESETS).nullable(),
              limit_remaining: usd.nullable().describe('What is left of the limit in its period, less what requests in progress reserve'),
              usage: usd,
              usage_daily: usd,
              usage_weekly: usd,
              usage_monthly: usd,
              is_free_tier: z.boolean(),
              is_management_key: z.boolean(),
              is_provisioning_key: z.boolean(),
              expires_at: z.string().nullable().describe('ISO 8601'),
              rate_limit: z.object({ requests: z.number().int(), interval: z.literal('1m') }).nullable(),
              tpm: z.number().int().nullable(),
              models: z.array(z.string()).nullable(),
            }),
          }),
        },
      },
    },
    async (_input, _req, res) => {
      const { key } = authOf(res);
      const [spend, budget] = await Promise.all([keySpend(services.db, key.id), key.spendLimit === null ? NO_SPEND : keyBudget(services.db, key.id)]);
      const remaining = budgetRemaining(key, budget);
      res.json({
        data: {
          label: key.name,
          limit: key.spendLimit === null ? null : usdNumber(key.spendLimit),
          limit_reset: key.limitReset,
          limit_remaining: remaining === null ? null : usdNumber(remaining),
          usage: usdNumber(spend.total),
          usage_daily: usdNumber(spend.daily),
          usage_weekly: usdNumber(spend.weekly),
          usage_monthly: usdNumber(spend.monthly),
          is_free_tier: false,
          is_management_key: key.manage,
          is_provisioning_key: key.manage,
          expires_at: key.expiresAt?.toISOString() ?? null,
          rate_limit: key.rpm === null ? null : { requests: key.rpm, interval: '1m' },
          tpm: key.tpm,
          models: key.models,
        },
      });
    },
  );

  return router;
}
