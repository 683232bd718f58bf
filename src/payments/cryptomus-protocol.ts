/**
 * Cryptomus' wire format, shared by the client adapter and the local Cryptomus-protocol server:
 * the PHP-style JSON both sides sign, the md5 signature, and the payment object's shape.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * What PHP's json_encode($x, JSON_UNESCAPED_UNICODE) prints: compact, "/" as "\/", U+2028/U+2029
 * escaped, other non-ASCII raw. Cryptomus signs that form; JSON.stringify never emits "/" inside
 * an escape sequence, so the replace cannot corrupt one.
 */
export const phpJson = (value: unknown): string =>
  JSON.stringify(value).replace(/\//g, '\\/').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

/** md5(base64(body) . key), lowercase hex. A call without a body signs the empty string. */
export const cryptomusSign = (body: string | Buffer, apiKey: string): string =>
  createHash('md5').update(Buffer.from(body).toString('base64') + apiKey).digest('hex');

export function signMatches(given: unknown, expected: string): boolean {
  if (typeof given !== 'string' || given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}

/**
 * Verifies a webhook body the way Cryptomus' PHP sample does: drop `sign`, re-encode the rest in
 * PHP's JSON form (key order kept), sign it. Returns the payload without `sign`, or null.
 */
export function verifiedWebhookBody(raw: string, apiKey: string): Record<string, unknown> | null {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) return null;
  const { sign, ...rest } = data as Record<string, unknown>;
  return signMatches(sign, cryptomusSign(phpJson(rest), apiKey)) ? rest : null;
}

/** The payment object of create / info / list (amounts are decimal strings). */
export interface CryptomusPayment {
  uuid: string;
  order_id: string;
  amount: string;
  payment_amount: string | null;
  payer_amount: string | null;
  discount_percent: number | null;
  discount: string;
  payer_currency: string | null;
  currency: string;
  merchant_amount: string | null;
  network: string | null;
  address: string | null;
  from: string | null;
  txid: string | null;
  payment_status: string;
  url: string;
  expired_at: number;
  status: string;
  is_final: boolean;
  additional_data: string | null;
  created_at: string;
  updated_at: string;
}

/** Statuses after which the invoice never changes again, per the statuses page. */
export const FINAL_STATUSES: ReadonlySet<string> = new Set([
  'paid',
  'paid_over',
  'wrong_amount',
  'cancel',
  'fail',
  'system_fail',
  'refund_fail',
  'refund_paid',
]);
