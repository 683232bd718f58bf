import path from 'node:path';
import { describe, expect, it } from 'vitest';
import os from 'node:os';
import { ConfigError, ledgerLanes, loadConfig } from '../src/config.js';

describe('configuration', () => {
  it('has embedded defaults for everything', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8080);
    expect(c.dataDir).toBe(path.resolve('.data'));
    expect(c.temporal.namespace).toBe('default');
    expect(c.database.url).toBeUndefined();
    expect(c.publicUrl).toBe('http://127.0.0.1:8080');
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://x'],
    ['TEMPORAL_ADDRESS', 'localhost'],
    ['PUBLIC_URL', 'not a url'],
    ['UPSTREAM_BASE_URL', 'ftp://x'],
    ['ADMIN_TOKEN', 'short'],
    ['LOG_LEVEL', 'loud'],
  ])('stops on a bad %s and names it', (variable, value) => {
    expect(() => loadConfig({ [variable]: value })).toThrow(ConfigError);
    try {
      loadConfig({ [variable]: value });
    } catch (err) {
      expect((err as ConfigError).variable).toBe(variable);
      expect((err as Error).message).toMatch(new RegExp(`^${variable}: `));
    }
  });

  it('reads the SMTP server and sender for console mail, refusing a bad URL without repeating its password', () => {
    expect(loadConfig({}).mail).toBeUndefined();
    expect(loadConfig({ SMTP_URL: 'smtps://mailer%40cheapa:p%3Ass@mail.example.com' }).mail).toEqual({
      smtp: { host: 'mail.example.com', port: 465, secure: true, user: 'mailer@cheapa', password: 'p:ss' },
      from: 'support@cheapa.example',
    });
    expect(loadConfig({ SMTP_URL: 'smtp://mail.example.com:2525', MAIL_FROM: 'Cheapa <no-reply@cheapa.example>' }).mail).toEqual({
      smtp: { host: 'mail.example.com', port: 2525, secure: false, user: undefined, password: undefined },
      from: 'Cheapa <no-reply@cheapa.example>',
    });
    expect(loadConfig({ SMTP_URL: 'smtp://m.example' }).mail!.smtp.port).toBe(587);
    for (const bad of ['https://u:hunter22@mail.example.com', 'smtp://u:hunter22@/', 'smtp://u:hunter22@mail.example.com/path', 'smtp://:hunter22@mail.example.com']) {
      expect(() => loadConfig({ SMTP_URL: bad })).toThrow(/^SMTP_URL: /);
      expect(() => loadConfig({ SMTP_URL: bad })).not.toThrow(/hunter22/);
    }
    for (const bad of ['not an address', 'a@b.example\r\nBcc: x@y.example', 'Name <not an address>']) {
      expect(() => loadConfig({ SMTP_URL: 'smtp://m.example', MAIL_FROM: bad })).toThrow(/^MAIL_FROM: /);
    }
  });

  it('runs half the cores as ledger lanes by default (one to eight), or LEDGER_LANES, refusing 0 and more than 64', () => {
    expect(loadConfig({}).database.ledgerLanes).toBe(ledgerLanes(os.availableParallelism()));
    expect([1, 2, 3, 4, 16, 64].map(ledgerLanes)).toEqual([1, 1, 1, 2, 8, 8]);
    expect(loadConfig({ LEDGER_LANES: '3' }).database.ledgerLanes).toBe(3);
    for (const bad of ['0', '65', '1.5', 'many']) expect(() => loadConfig({ LEDGER_LANES: bad }), bad).toThrow(/LEDGER_LANES/);
  });

  it('takes chat requests from allowances by default (CHAT_ALLOWANCES=0 turns them off), given back after CHAT_ALLOWANCE_IDLE_MS', () => {
    expect(loadConfig({}).chat).toMatchObject({ allowances: true, allowanceIdleMs: 2000 });
    expect(loadConfig({ CHAT_ALLOWANCES: '1', CHAT_ALLOWANCE_IDLE_MS: '250' }).chat).toMatchObject({ allowances: true, allowanceIdleMs: 250 });
    expect(loadConfig({ CHAT_ALLOWANCES: '0' }).chat.allowances).toBe(false);
    expect(() => loadConfig({ CHAT_ALLOWANCES: 'yes' })).toThrow(/CHAT_ALLOWANCES/);
    for (const bad of ['0', '-5', '1.5', 'soon']) expect(() => loadConfig({ CHAT_ALLOWANCE_IDLE_MS: bad }), bad).toThrow(/CHAT_ALLOWANCE_IDLE_MS/);
  });

  it('refuses half a credential pair', () => {
    expect(() => loadConfig({ STRIPE_SECRET_KEY: 'sk_test_x' })).toThrow(/STRIPE_WEBHOOK_SECRET/);
    expect(() => loadConfig({ CRYPTOMUS_API_KEY: 'k' })).toThrow(/CRYPTOMUS_MERCHANT_ID/);
  });

  it('reads the asset link settings and the S3-compatible store, refusing incomplete S3 settings', () => {
    expect(loadConfig({}).assetUrls).toEqual({ secret: undefined, ttlSeconds: 3600 });
    expect(loadConfig({}).s3).toBeUndefined();
    expect(() => loadConfig({ ASSET_URL_SECRET: 'short' })).toThrow(/^ASSET_URL_SECRET: /);
    expect(() => loadConfig({ ASSET_URL_TTL: '604801' })).toThrow(/^ASSET_URL_TTL: /);
    expect(() => loadConfig({ S3_ENDPOINT: 'http://127.0.0.1:9000' })).toThrow(/^S3_BUCKET: /);
    expect(() => loadConfig({ S3_BUCKET: 'b', S3_ACCESS_KEY_ID: 'k' })).toThrow(/^S3_SECRET_ACCESS_KEY: /);
    expect(() => loadConfig({ S3_BUCKET: 'b', S3_FORCE_PATH_STYLE: 'maybe' })).toThrow(/^S3_FORCE_PATH_STYLE: /);
    expect(loadConfig({ S3_BUCKET: 'b', S3_ENDPOINT: 'http://127.0.0.1:9000/' }).s3).toEqual({
      endpoint: 'http://127.0.0.1:9000',
      bucket: 'b',
      region: 'us-east-1',
      accessKeyId: undefined,
      secretAccessKey: undefined,
      forcePathStyle: true,
      prefix: undefined,
    });
    expect(loadConfig({ S3_BUCKET: 'b', S3_REGION: 'eu-west-1' }).s3).toMatchObject({ region: 'eu-west-1', forcePathStyle: false });
  });

  it('parses the Cryptomus webhook IP allowlist', () => {
    expect(loadConfig({ CRYPTOMUS_WEBHOOK_IPS: '91.227.144.54, 127.0.0.1' }).cryptomus.webhookIps).toEqual(['91.227.144.54', '127.0.0.1']);
  });
});

describe('production mode and sandboxes', () => {
  const live = {
    STRIPE_SECRET_KEY: 'sk_live_x',
    STRIPE_WEBHOOK_SECRET: 'whsec_x',
    CRYPTOMUS_MERCHANT_ID: 'm',
    CRYPTOMUS_API_KEY: 'k',
    UPSTREAM_BASE_URL: 'https://api.openai.com/v1',
    GEMINI_API_KEY: 'g',
  };

  it('development serves every part without credentials from a sandbox, bound to loopback', () => {
    const c = loadConfig({});
    expect(c.mode).toBe('development');
    expect(c.host).toBe('127.0.0.1');
    expect(c.parts).toEqual({ card: 'sandbox', crypto: 'sandbox', chat: 'sandbox', media: 'sandbox' });
  });

  it('production disables every part without credentials instead of simulating it, and binds all interfaces', () => {
    const c = loadConfig({ NODE_ENV: 'production' });
    expect(c.parts).toEqual({ card: 'disabled', crypto: 'disabled', chat: 'disabled', media: 'disabled' });
    expect(c.host).toBe('0.0.0.0');
    expect(loadConfig({ NODE_ENV: 'production', STRIPE_SECRET_KEY: 'sk_live_x', STRIPE_WEBHOOK_SECRET: 'whsec_x' }).parts.card).toBe('provider');
  });

  it('production uses sandboxes only when SANDBOXES=1 says so (staging)', () => {
    const c = loadConfig({ NODE_ENV: 'production', SANDBOXES: '1', PUBLIC_URL: 'https://staging.example.com' });
    expect(c.parts).toEqual({ card: 'sandbox', crypto: 'sandbox', chat: 'sandbox', media: 'sandbox' });
    expect(c.sandboxes.explicit).toBe(true);
  });

  it.each([
    [{ HOST: '0.0.0.0' }, /HOST 0\.0\.0\.0 is not loopback/],
    [{ PUBLIC_URL: 'https://pay.example.com' }, /PUBLIC_URL https:\/\/pay\.example\.com is not loopback/],
  ])('development refuses to start with a sandbox reachable from elsewhere (%o) unless SANDBOXES=1', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
    expect(() => loadConfig(env)).toThrow(/^SANDBOXES: /);
    expect(loadConfig({ ...env, SANDBOXES: '1' }).parts.card).toBe('sandbox');
    // With every provider configured no sandbox is active, and any address is fine.
    expect(loadConfig({ ...env, ...live }).parts).toEqual({ card: 'provider', crypto: 'provider', chat: 'provider', media: 'provider' });
  });

  it('SANDBOXES=0 disables parts without credentials in development too', () => {
    expect(loadConfig({ SANDBOXES: '0', HOST: '0.0.0.0' }).parts.chat).toBe('disabled');
  });

  it('PAYMENT_METHODS switches methods off, credentials or not', () => {
    expect(loadConfig({ ...live, PAYMENT_METHODS: 'card' }).parts).toMatchObject({ card: 'provider', crypto: 'disabled' });
    expect(loadConfig({ PAYMENT_METHODS: 'crypto' }).parts).toMatchObject({ card: 'disabled', crypto: 'sandbox' });
    expect(loadConfig({ PAYMENT_METHODS: 'none' }).parts).toMatchObject({ card: 'disabled', crypto: 'disabled' });
    expect(() => loadConfig({ PAYMENT_METHODS: 'card,paypal' })).toThrow(/^PAYMENT_METHODS: unknown method 'paypal'/);
  });

  it('reads Temporal TLS and API key settings, and refuses half a client certificate', () => {
    const c = loadConfig({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_TLS_CERT: '/etc/t/client.pem', TEMPORAL_TLS_KEY: '/etc/t/client.key', TEMPORAL_TLS_CA: '/etc/t/ca.pem', TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' });
    expect(c.temporal.tls).toEqual({ certFile: '/etc/t/client.pem', keyFile: '/etc/t/client.key', caFile: '/etc/t/ca.pem', serverName: 'temporal.internal' });
    expect(loadConfig({ TEMPORAL_API_KEY: 'key' }).temporal).toMatchObject({ apiKey: 'key', tls: undefined });
    expect(() => loadConfig({ TEMPORAL_TLS_CERT: '/etc/t/client.pem' })).toThrow(/^TEMPORAL_TLS_KEY: /);
  });

  it('reads worker tuning and the pre-built bundle path, leaving unset values to the SDK', () => {
    expect(loadConfig({}).temporal.worker).toEqual({});
    const c = loadConfig({ TEMPORAL_WORKER_MAX_CACHED_WORKFLOWS: '2000', TEMPORAL_WORKER_WORKFLOW_TASK_SLOTS: '80', WORKFLOW_BUNDLE: '/app/dist/workflow-bundle.js' });
    expect(c.temporal.worker).toMatchObject({ maxCachedWorkflows: 2000, workflowTaskSlots: 80, activityTaskSlots: undefined, bundlePath: '/app/dist/workflow-bundle.js' });
    expect(() => loadConfig({ TEMPORAL_WORKER_ACTIVITY_POLLERS: '0' })).toThrow(/^TEMPORAL_WORKER_ACTIVITY_POLLERS: /);
  });

  it.each([['SANDBOXES', 'yes']])('stops on a bad %s', (variable, value) => {
    expect(() => loadConfig({ [variable]: value })).toThrow(new RegExp(`^${variable}: `));
  });
});
