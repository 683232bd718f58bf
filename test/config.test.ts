import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

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
