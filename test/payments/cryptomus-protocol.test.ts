import { describe, expect, it } from 'vitest';
import { cryptomusSign, phpJson, verifiedWebhookBody } from '../../src/payments/cryptomus-protocol.js';

const KEY = 'test-api-key-123';

describe('Cryptomus request signing', () => {
  it('encodes JSON the way PHP json_encode(JSON_UNESCAPED_UNICODE) does', () => {
    expect(phpJson({ url: 'https://a.b/c', name: 'Café – ok', sep: 'a\u2028b' })).toBe(
      '{"url":"https:\\/\\/a.b\\/c","name":"Café – ok","sep":"a\\u2028b"}',
    );
  });

  it('signs md5(base64(body) . key), matching a vector computed with base64 and md5sum', () => {
    const body = phpJson({
      amount: '10.00',
      currency: 'USD',
      order_id: 'dep_1',
      url_callback: 'https://cheapa.example/webhooks/cryptomus',
    });
    // printf '%s' "$(printf '%s' "$body" | base64 -w0)$key" | md5sum
    expect(cryptomusSign(body, KEY)).toBe('22e6db024631b364671f9cc39b3f165c');
    // A call without a body signs the empty string, i.e. md5(key).
    expect(cryptomusSign('', KEY)).toBe('243803a7915cfddb629813ae00da7da3');
  });
});

describe('Cryptomus webhook verification', () => {
  const payload = { type: 'payment', uuid: 'u-1', order_id: 'dep_1', status: 'paid', additional_data: 'tier/starter' };
  const signedBody = (data: Record<string, unknown>, key = KEY) => ({ ...data, sign: cryptomusSign(phpJson(data), key) });

  it('accepts a body whose values contain "/", sent with or without PHP slash escaping', () => {
    const body = signedBody(payload);
    expect(verifiedWebhookBody(phpJson(body), KEY)).toEqual(payload);
    expect(verifiedWebhookBody(JSON.stringify(body), KEY)).toEqual(payload);
  });

  it('rejects a sign made over plain JSON.stringify, as Cryptomus never sends one', () => {
    const wrong = { ...payload, sign: cryptomusSign(JSON.stringify(payload), KEY) };
    expect(verifiedWebhookBody(JSON.stringify(wrong), KEY)).toBeNull();
  });

  it('rejects a wrong key, a tampered field, a missing sign and a body that is not JSON', () => {
    expect(verifiedWebhookBody(phpJson(signedBody(payload, 'other-key')), KEY)).toBeNull();
    expect(verifiedWebhookBody(phpJson({ ...signedBody(payload), status: 'paid_over' }), KEY)).toBeNull();
    expect(verifiedWebhookBody(phpJson(payload), KEY)).toBeNull();
    expect(verifiedWebhookBody('not json', KEY)).toBeNull();
    expect(verifiedWebhookBody('[1,2]', KEY)).toBeNull();
  });
});
