import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { checkWebhookUrl, isNonPublicAddress, WebhookUrlRefused } from '../../src/alerts/webhook-url.js';
import { signatureHeader, verifySignature } from '../../src/alerts/alert-signature.js';

describe('isNonPublicAddress', () => {
  it.each([
    '127.0.0.1', '127.9.9.9', '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.0.1', '169.254.169.254', '100.64.0.1', '0.0.0.0',
    '224.0.0.1', '255.255.255.255', '::1', '::', 'fd12:3456::1', 'fc00::1', 'fe80::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:7f00:1',
    '::ffff:10.0.0.1', 'not-an-ip',
  ])('%s is not public', (a) => expect(isNonPublicAddress(a)).toBe(true));

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '192.169.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('%s is public', (a) =>
    expect(isNonPublicAddress(a)).toBe(false),
  );
});

describe('checkWebhookUrl', () => {
  const production = { allowPrivate: false };
  it('takes a public https URL with an IP literal as it is', async () => {
    await expect(checkWebhookUrl('https://8.8.8.8/hook?x=1', production)).resolves.toBe('https://8.8.8.8/hook?x=1');
  });
  it('refuses http, private hosts and credentials in production', async () => {
    for (const url of ['http://8.8.8.8/hook', 'https://127.0.0.1/', 'https://app.localhost/', 'https://[fe80::1]/', 'https://u:p@8.8.8.8/']) {
      await expect(checkWebhookUrl(url, production), url).rejects.toBeInstanceOf(WebhookUrlRefused);
    }
  });
  it('lets development use a local http receiver', async () => {
    await expect(checkWebhookUrl('http://127.0.0.1:8080/hook', { allowPrivate: true })).resolves.toBe('http://127.0.0.1:8080/hook');
  });
});

describe('ALERT_WEBHOOK_ALLOW_PRIVATE', () => {
  it('defaults to allowed in development and refused in production', () => {
    expect(loadConfig({}).alerts.allowPrivateWebhooks).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production' }).alerts.allowPrivateWebhooks).toBe(false);
    expect(loadConfig({ ALERT_WEBHOOK_ALLOW_PRIVATE: '0' }).alerts.allowPrivateWebhooks).toBe(false);
  });
});

describe('Cheapa-Signature', () => {
  const secret = 'whsec_test';
  const body = '{"type":"balance.low"}';
  it('verifies with the secret in Stripe\u2019s t=,v1= manner and refuses old timestamps', () => {
    const header = signatureHeader(secret, body, 1_000_000);
    expect(header).toMatch(/^t=1000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature(secret, body, header, 1_000_100)).toBe(true);
    expect(verifySignature(secret, body, header, 1_000_301)).toBe(false);
    expect(verifySignature(secret, body + ' ', header, 1_000_100)).toBe(false);
    expect(verifySignature(secret, body, header.replace('v1=', 'v0='), 1_000_100)).toBe(false);
  });
});
