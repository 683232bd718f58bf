import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { cryptomusSign, phpJson } from '../../src/payments/cryptomus-protocol.js';
import { startHarness, type Harness } from '../support/harness.js';

/**
 * Who the client is, replayed from issue 10 §4: the Cryptomus webhook allowlist must see the
 * address behind a trusted load balancer, and nobody else may pick their address with X-Forwarded-For.
 */

const MERCHANT_KEY = 'test-cryptomus-payment-key';
const CRYPTOMUS_IP = '203.0.113.7';

function harnessTrusting(trustProxy: string) {
  return startHarness({
    worker: false,
    env: { TRUST_PROXY: trustProxy, CRYPTOMUS_MERCHANT_ID: 'test-merchant', CRYPTOMUS_API_KEY: MERCHANT_KEY, CRYPTOMUS_WEBHOOK_IPS: CRYPTOMUS_IP },
  });
}

/** A correctly signed notification (for no deposit of ours: the route acknowledges it and changes nothing). */
function signedWebhook(h: Harness, forwardedFor: string) {
  const payload = { type: 'payment', uuid: '5b1c3e0a-0000-4000-8000-000000000000', order_id: 'dep_none', amount: '10.00', currency: 'USD', status: 'paid', is_final: true };
  return fetch(`${h.baseUrl}/webhooks/cryptomus`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
    body: phpJson({ ...payload, sign: cryptomusSign(phpJson(payload), MERCHANT_KEY) }),
  });
}

describe('attack 5: a spoofed client address', () => {
  it.each([
    ['off', false],
    ['0', false],
    ['2', 2],
    ['loopback, 10.0.0.0/8, fd00::/8, 192.0.2.10', ['loopback', '10.0.0.0/8', 'fd00::/8', '192.0.2.10']],
  ])('TRUST_PROXY=%s is read as %j', (value, expected) => {
    expect(loadConfig({ TRUST_PROXY: value }).trustProxy).toEqual(expected);
  });

  it('trusts loopback proxies by default', () => {
    expect(loadConfig({}).trustProxy).toEqual(['loopback']);
  });

  it.each(['true', '10.0.0.0/33', 'everyone', '300.1.1.1'])('refuses TRUST_PROXY=%s, naming the variable', (value) => {
    expect(() => loadConfig({ TRUST_PROXY: value })).toThrow(ConfigError);
    expect(() => loadConfig({ TRUST_PROXY: value })).toThrow(/^TRUST_PROXY/);
  });

  describe('with no trusted proxy', () => {
    let h: Harness;
    beforeAll(async () => {
      h = await harnessTrusting('off');
    });
    afterAll(async () => h?.close());

    it('a webhook from outside the allowlist claiming an allowed address in X-Forwarded-For is refused', async () => {
      const res = await signedWebhook(h, CRYPTOMUS_IP);
      expect(res.status).toBe(400);
      expect((await res.json()).error.code).toBe('invalid_signature');
    });
  });

  describe('behind a load balancer on loopback', () => {
    let h: Harness;
    beforeAll(async () => {
      h = await harnessTrusting('loopback');
    });
    afterAll(async () => h?.close());

    it('the allowlist sees the client address the balancer forwards', async () => {
      expect((await signedWebhook(h, CRYPTOMUS_IP)).status).toBe(200);
    });

    it('an allowed address the client itself prepended to X-Forwarded-For does not count', async () => {
      const res = await signedWebhook(h, `${CRYPTOMUS_IP}, 198.51.100.9`);
      expect(res.status).toBe(400);
    });
  });
});
