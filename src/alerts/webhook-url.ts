/**
 * Where a customer's webhooks may go. In production only public https addresses: the URL is
 * refused when its host is, or resolves to, a loopback, private, link-local, unique-local or
 * otherwise non-public address, and every delivery checks the addresses again at connect time
 * (safeLookup), so a name that resolves elsewhere later cannot turn the service against its own
 * network. Development (ALERT_WEBHOOK_ALLOW_PRIVATE=1) takes http and local receivers, for tests.
 */
import dns from 'node:dns';
import net from 'node:net';

export interface WebhookUrlPolicy {
  allowPrivate: boolean;
}

export class WebhookUrlRefused extends Error {
  constructor(reason: string) {
    super(`webhook_url refused: ${reason}`);
    this.name = 'WebhookUrlRefused';
  }
}

const blocked = new net.BlockList();
for (const [prefix, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(prefix, bits, 'ipv4');
}
for (const [prefix, bits] of [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['100::', 64], ['2001:db8::', 32], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8],
] as const) {
  blocked.addSubnet(prefix, bits, 'ipv6');
}

/** True for an address no customer webhook may reach in production. */
export function isNonPublicAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 0) return true;
  if (family === 6) {
    // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible forms are judged as the IPv4 address.
    const mapped = /^::(ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return blocked.check(mapped[2]!, 'ipv4');
    const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
    if (hex) {
      const n = (parseInt(hex[1]!, 16) << 16) | parseInt(hex[2]!, 16);
      return blocked.check([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.'), 'ipv4');
    }
    return blocked.check(address, 'ipv6');
  }
  return blocked.check(address, 'ipv4');
}

/** The URL as it will be stored, or WebhookUrlRefused. Resolves the host under the production policy. */
export async function checkWebhookUrl(raw: string, policy: WebhookUrlPolicy): Promise<string> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WebhookUrlRefused('not a URL');
  }
  if (url.username || url.password) throw new WebhookUrlRefused('credentials in the URL are not allowed');
  if (url.protocol !== 'https:' && !(policy.allowPrivate && url.protocol === 'http:')) throw new WebhookUrlRefused('must be an https URL');
  if (!policy.allowPrivate) await assertPublicHost(url.hostname);
  return url.toString();
}

async function assertPublicHost(hostname: string): Promise<void> {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host)) {
    if (isNonPublicAddress(host)) throw new WebhookUrlRefused('the host is not a public address');
    return;
  }
  if (host === 'localhost' || host.endsWith('.localhost')) throw new WebhookUrlRefused('the host is not a public address');
  let addresses: dns.LookupAddress[];
  try {
    addresses = await dns.promises.lookup(host, { all: true, verbatim: true });
  } catch {
    throw new WebhookUrlRefused('the host does not resolve');
  }
  if (addresses.length === 0 || addresses.some((a) => isNonPublicAddress(a.address))) {
    throw new WebhookUrlRefused('the host resolves to a non-public address');
  }
}

/**
 * A `lookup` for http(s).request that refuses non-public addresses: the check happens on the
 * addresses the connection will actually use, closing the gap between checking a name and using it.
 */
export function safeLookup(policy: WebhookUrlPolicy): net.LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as unknown as dns.LookupAddress[];
      const bad = !policy.allowPrivate && (list.length === 0 || list.some((a) => isNonPublicAddress(a.address)));
      if (bad) return callback(new WebhookUrlRefused(`${hostname} resolves to a non-public address`) as NodeJS.ErrnoException, '', 0);
      if ((options as dns.LookupOptions).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}
