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

  it('parses the Cryptomus webhook IP allowlist', () => {
    expect(loadConfig({ CRYPTOMUS_WEBHOOK_IPS: '91.227.144.54, 127.0.0.1' }).cryptomus.webhookIps).toEqual(['91.227.144.54', '127.0.0.1']);
  });
});
